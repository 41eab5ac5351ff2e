package secrets

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Limits as Secrets Manager has them.
const (
	MaxValueBytes = 65536
	MaxNameLength = 512
	// Version stages.
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	// DefaultRecoveryDays is DeleteSecret's default recovery window.
	DefaultRecoveryDays = 30
)

// Exception names this package answers with (all HTTP 400).
const (
	CodeNotFound         = "ResourceNotFoundException"
	CodeExists           = "ResourceExistsException"
	CodeInvalidParameter = "InvalidParameterException"
	CodeInvalidRequest   = "InvalidRequestException"
)

func fail(code, format string, args ...any) *lambda.Error {
	return &lambda.Error{Code: code, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func errNotFound() error {
	return fail(CodeNotFound, "Secrets Manager can't find the specified secret.")
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)

// ValidName reports whether name is a valid secret name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Secret is a secret's metadata: what DescribeSecret and ListSecrets show.
type Secret struct {
	Name        string     `json:"name"`
	ARN         string     `json:"arn"`
	Description string     `json:"description,omitempty"`
	Tags        []Tag      `json:"tags,omitempty"`
	Created     time.Time  `json:"created"`
	Changed     time.Time  `json:"changed"`
	Deleted     *time.Time `json:"deleted,omitempty"`
	PurgeAt     *time.Time `json:"purgeAt,omitempty"`
	Versions    []Version  `json:"versions,omitempty"`
}

// Tag is a secret's tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Version is one stored version; Sealed is its value, sealed with the key
// and bound to the secret's name and the version id.
type Version struct {
	ID      string    `json:"id"`
	Stages  []string  `json:"stages"`
	Created time.Time `json:"created"`
	Binary  bool      `json:"binary,omitempty"`
	Sealed  []byte    `json:"sealed"`
}

// Value is a version's plain value (GetSecretValue).
type Value struct {
	Name, ARN, VersionID string
	Stages               []string
	Created              time.Time
	// Exactly one is set.
	String *string
	Binary []byte
}

// Content is a value to store: exactly one of String and Binary.
type Content struct {
	String *string
	Binary []byte
}

func (c Content) empty() bool { return c.String == nil && c.Binary == nil }

func (c Content) check() error {
	if c.String != nil && c.Binary != nil {
		return fail(CodeInvalidParameter, "You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if n := len(c.Binary) + lenPtr(c.String); n > MaxValueBytes {
		return fail(CodeInvalidParameter, "The secret value is %d bytes; Secrets Manager allows at most %d.", n, MaxValueBytes)
	}
	return nil
}

func lenPtr(s *string) int {
	if s == nil {
		return 0
	}
	return len(*s)
}

func (c Content) bytes() []byte {
	if c.String != nil {
		return []byte(*c.String)
	}
	return c.Binary
}

func sealContext(name, versionID string) string { return "secret\x00" + name + "\x00" + versionID }

// CreateInput is CreateSecret's input.
type CreateInput struct {
	Name, Description string
	Tags              []Tag
	Content
	// Token (ClientRequestToken) becomes the version id; empty: a new UUID.
	Token string
}

// Create creates a secret, with a first version if a value is given.
func (s *Store) Create(ctx context.Context, in CreateInput) (Secret, error) {
	if !ValidName(in.Name) {
		return Secret{}, fail(CodeInvalidParameter, "Invalid name %q: a secret name has 1 to %d characters: letters, digits and /_+=.@-", in.Name, MaxNameLength)
	}
	if err := in.check(); err != nil {
		return Secret{}, err
	}
	if len(in.Description) > 2048 {
		return Secret{}, fail(CodeInvalidParameter, "The description must be at most 2048 characters.")
	}
	if err := checkToken(in.Token); err != nil {
		return Secret{}, err
	}
	if _, _, err := s.get(ctx, in.Name); err == nil {
		return s.existing(ctx, in)
	} else if e, ok := lambda.AsError(err); !ok || e.Code != CodeNotFound {
		return Secret{}, err
	}
	now := s.now().UTC()
	sec := Secret{Name: in.Name, ARN: ARN(in.Name, randomSuffix()), Description: in.Description, Tags: in.Tags, Created: now, Changed: now}
	if !in.empty() {
		sec.Versions = []Version{s.newVersion(in.Name, in.Token, in.Content, now)}
	}
	b, _ := json.Marshal(sec)
	if _, err := s.kv.Create(ctx, recordKey(in.Name), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return s.existing(ctx, in)
		}
		return Secret{}, fmt.Errorf("secrets: create: %w", err)
	}
	return sec, nil
}

// existing answers a CreateSecret for a name that exists: idempotent when
// the same token and value were used, otherwise ResourceExistsException.
func (s *Store) existing(ctx context.Context, in CreateInput) (Secret, error) {
	sec, _, err := s.get(ctx, in.Name)
	if err == nil && sec.Deleted != nil {
		return Secret{}, fail(CodeInvalidRequest, "You can't create this secret because a secret with this name is already scheduled for deletion.")
	}
	if err == nil && in.Token != "" && len(sec.Versions) > 0 && sec.Versions[0].ID == in.Token {
		if s.sameValue(sec, sec.Versions[0], in.Content) {
			return sec, nil
		}
	}
	return Secret{}, fail(CodeExists, "The operation failed because the secret %s already exists.", in.Name)
}

func (s *Store) sameValue(sec Secret, v Version, c Content) bool {
	plain, err := s.key.Open(v.Sealed, sealContext(sec.Name, v.ID))
	return err == nil && v.Binary == (c.Binary != nil) && bytes.Equal(plain, c.bytes())
}

func (s *Store) newVersion(name, token string, c Content, now time.Time) Version {
	id := token
	if id == "" {
		id = lambda.NewRequestID()
	}
	return Version{ID: id, Stages: []string{StageCurrent}, Created: now, Binary: c.Binary != nil, Sealed: s.key.Seal(c.bytes(), sealContext(name, id))}
}

func checkToken(t string) error {
	if t != "" && (len(t) < 32 || len(t) > 64) {
		return fail(CodeInvalidParameter, "ClientRequestToken must be 32 to 64 characters.")
	}
	return nil
}

// Put stores a new AWSCURRENT version; the current one becomes AWSPREVIOUS
// (and the previous one is dropped).
func (s *Store) Put(ctx context.Context, id string, c Content, token string) (Secret, Version, error) {
	if c.empty() {
		return Secret{}, Version{}, fail(CodeInvalidParameter, "You must provide either SecretString or SecretBinary.")
	}
	if err := c.check(); err != nil {
		return Secret{}, Version{}, err
	}
	if err := checkToken(token); err != nil {
		return Secret{}, Version{}, err
	}
	var added Version
	sec, err := s.update(ctx, id, func(sec *Secret) error {
		if sec.Deleted != nil {
			return errDeleted()
		}
		if token != "" {
			if i := slices.IndexFunc(sec.Versions, func(v Version) bool { return v.ID == token }); i >= 0 {
				if s.sameValue(*sec, sec.Versions[i], c) {
					added = sec.Versions[i]
					return errUnchanged
				}
				return fail(CodeExists, "You can't modify an existing version, you can only create a new version.")
			}
		}
		now := s.now().UTC()
		added = s.newVersion(sec.Name, token, c, now)
		versions := []Version{added}
		if len(sec.Versions) > 0 {
			prev := sec.Versions[0]
			prev.Stages = []string{StagePrevious}
			versions = append(versions, prev)
		}
		sec.Versions, sec.Changed = versions, now
		return nil
	})
	return sec, added, err
}

// errUnchanged ends an update without writing (an idempotent retry).
var errUnchanged = errors.New("unchanged")

func errDeleted() error {
	return fail(CodeInvalidRequest, "You can't perform this operation on the secret because it was marked for deletion.")
}

// Value returns a version's plain value: by version id, else by stage
// (default AWSCURRENT).
func (s *Store) Value(ctx context.Context, id, versionID, stage string) (Value, error) {
	sec, _, err := s.get(ctx, id)
	if err != nil {
		return Value{}, err
	}
	if sec.Deleted != nil {
		return Value{}, errDeleted()
	}
	if stage == "" && versionID == "" {
		stage = StageCurrent
	}
	i := slices.IndexFunc(sec.Versions, func(v Version) bool {
		return (versionID == "" || v.ID == versionID) && (stage == "" || slices.Contains(v.Stages, stage))
	})
	if i < 0 {
		return Value{}, fail(CodeNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", cmp.Or(stage, versionID))
	}
	v := sec.Versions[i]
	plain, err := s.key.Open(v.Sealed, sealContext(sec.Name, v.ID))
	if err != nil {
		return Value{}, fmt.Errorf("secrets: %s version %s: %w", sec.Name, v.ID, err)
	}
	out := Value{Name: sec.Name, ARN: sec.ARN, VersionID: v.ID, Stages: v.Stages, Created: v.Created}
	if v.Binary {
		out.Binary = plain
	} else {
		str := string(plain)
		out.String = &str
	}
	return out, nil
}

// Describe returns a secret's metadata (never its values).
func (s *Store) Describe(ctx context.Context, id string) (Secret, error) {
	sec, _, err := s.get(ctx, id)
	return sec, err
}

// List returns every secret's metadata, sorted by name; deleted ones only if
// includeDeleted.
func (s *Store) List(ctx context.Context, includeDeleted bool) ([]Secret, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("secrets: list: %w", err)
	}
	var names []string
	for k := range keys.Keys() {
		if name, ok := nameOfKey(k); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := []Secret{}
	for _, name := range names {
		sec, _, err := s.get(ctx, name)
		if e, ok := lambda.AsError(err); ok && e.Code == CodeNotFound {
			continue // deleted or purged since listed
		}
		if err != nil {
			return nil, err
		}
		if sec.Deleted == nil || includeDeleted {
			out = append(out, sec)
		}
	}
	return out, nil
}

// Delete schedules the secret's deletion after windowDays (7 to 30; 0 means
// 30), or deletes it at once if force.
func (s *Store) Delete(ctx context.Context, id string, force bool, windowDays int) (Secret, time.Time, error) {
	if force && windowDays != 0 {
		return Secret{}, time.Time{}, fail(CodeInvalidParameter, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	if windowDays == 0 {
		windowDays = DefaultRecoveryDays
	}
	if windowDays < 7 || windowDays > 30 {
		return Secret{}, time.Time{}, fail(CodeInvalidParameter, "RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
	}
	now := s.now().UTC()
	if force {
		sec, rev, err := s.get(ctx, id)
		if err != nil {
			return Secret{}, time.Time{}, err
		}
		// Purge, not Delete: no sealed value lingers in the key's history.
		if err := s.kv.Purge(ctx, recordKey(sec.Name), jetstream.LastRevision(rev)); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				return Secret{}, time.Time{}, lambda.Conflict("The secret was changed concurrently; try again.")
			}
			return Secret{}, time.Time{}, fmt.Errorf("secrets: delete %s: %w", sec.Name, err)
		}
		return sec, now, nil
	}
	purgeAt := now.Add(time.Duration(windowDays) * 24 * time.Hour)
	sec, err := s.update(ctx, id, func(sec *Secret) error {
		if sec.Deleted != nil {
			return errDeleted()
		}
		sec.Deleted, sec.PurgeAt = &now, &purgeAt
		return nil
	})
	return sec, purgeAt, err
}

// Restore cancels a scheduled deletion.
func (s *Store) Restore(ctx context.Context, id string) (Secret, error) {
	return s.update(ctx, id, func(sec *Secret) error {
		sec.Deleted, sec.PurgeAt = nil, nil
		return nil
	})
}

// get reads a secret by name or ARN, purging it if its recovery window has
// ended.
func (s *Store) get(ctx context.Context, id string) (Secret, uint64, error) {
	name, arn := id, ""
	if strings.HasPrefix(id, "arn:") {
		var ok bool
		if name, arn, ok = parseARN(id); !ok {
			return Secret{}, 0, fail(CodeInvalidParameter, "Invalid secret ARN: %s", id)
		}
	}
	if !ValidName(name) {
		return Secret{}, 0, fail(CodeInvalidParameter, "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	sec, rev, err := s.read(ctx, name)
	if e, ok := lambda.AsError(err); ok && e.Code == CodeNotFound && arn != "" {
		// A full ARN ends with -XXXXXX after the name.
		if i := strings.LastIndexByte(name, '-'); i > 0 && len(name)-i == 7 {
			sec, rev, err = s.read(ctx, name[:i])
			if err == nil && sec.ARN != arn {
				return Secret{}, 0, errNotFound()
			}
		}
	}
	return sec, rev, err
}

func (s *Store) read(ctx context.Context, name string) (Secret, uint64, error) {
	e, err := s.kv.Get(ctx, recordKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Secret{}, 0, errNotFound()
	}
	if err != nil {
		return Secret{}, 0, fmt.Errorf("secrets: get %s: %w", name, err)
	}
	var sec Secret
	if err := json.Unmarshal(e.Value(), &sec); err != nil {
		return Secret{}, 0, fmt.Errorf("secrets: decode %s: %w", name, err)
	}
	if sec.PurgeAt != nil && s.now().After(*sec.PurgeAt) {
		if err := s.kv.Purge(ctx, recordKey(name), jetstream.LastRevision(e.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return Secret{}, 0, fmt.Errorf("secrets: purge %s: %w", name, err)
		}
		return Secret{}, 0, errNotFound()
	}
	return sec, e.Revision(), nil
}

// update applies f to a secret and writes it if no one wrote in between
// (retrying a few times when someone did).
func (s *Store) update(ctx context.Context, id string, f func(*Secret) error) (Secret, error) {
	for range 5 {
		sec, rev, err := s.get(ctx, id)
		if err != nil {
			return Secret{}, err
		}
		if err := f(&sec); errors.Is(err, errUnchanged) {
			return sec, nil
		} else if err != nil {
			return Secret{}, err
		}
		b, _ := json.Marshal(sec)
		_, err = s.kv.Update(ctx, recordKey(sec.Name), b, rev)
		if err == nil {
			return sec, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return Secret{}, fmt.Errorf("secrets: update %s: %w", sec.Name, err)
		}
	}
	return Secret{}, lambda.Conflict("The secret was changed concurrently; try again.")
}

// ARN is a secret's ARN: arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX.
func ARN(name, suffix string) string {
	return "arn:aws:secretsmanager:" + lambda.Region + ":" + lambda.Account + ":secret:" + name + "-" + suffix
}

// parseARN returns the name part of a secret ARN (with the suffix, if any).
func parseARN(arn string) (name, full string, ok bool) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || !strings.HasPrefix(parts[1], "aws") || parts[2] != "secretsmanager" || parts[5] != "secret" || parts[6] == "" {
		return "", "", false
	}
	return parts[6], arn, true
}

const suffixChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = suffixChars[int(b[i])%len(suffixChars)]
	}
	return string(b)
}
