package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Error types of a reference that cannot be resolved, as a function error's
// errorType (the scheduler reports them as the environment's init error).
const (
	ErrorSecretNotFound = "Runtime.SecretNotFound"
	ErrorSecretInvalid  = "Runtime.SecretInvalid"
)

const refPrefix = "{{resolve:secretsmanager:"

// Ref is one parsed dynamic reference.
type Ref struct {
	// Text is the whole reference, braces included.
	Text string
	// SecretID is a name or an ARN.
	SecretID string
	// JSONKey, Stage and VersionID are optional.
	JSONKey, Stage, VersionID string
}

// HasRefs reports whether s contains a Secrets Manager dynamic reference.
func HasRefs(s string) bool { return strings.Contains(s, refPrefix) }

// ParseRefs returns the references in s in order. A reference that is
// malformed (unterminated, empty secret id, a second field other than
// SecretString, too many fields) is an error naming it.
func ParseRefs(s string) ([]Ref, error) {
	var refs []Ref
	for rest := s; ; {
		i := strings.Index(rest, refPrefix)
		if i < 0 {
			return refs, nil
		}
		rest = rest[i:]
		j := strings.Index(rest, "}}")
		if j < 0 {
			return nil, fmt.Errorf("the dynamic reference %q has no closing }}", truncate(rest))
		}
		ref, err := parseRef(rest[:j+2])
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
		rest = rest[j+2:]
	}
}

func parseRef(text string) (Ref, error) {
	body := strings.TrimSuffix(strings.TrimPrefix(text, refPrefix), "}}")
	var id string
	var fields []string
	if strings.HasPrefix(body, "arn:") {
		// An ARN holds six colons itself: arn:aws:secretsmanager:R:A:secret:NAME-XXXXXX.
		parts := strings.SplitN(body, ":", 8)
		if len(parts) < 7 {
			return Ref{}, fmt.Errorf("the dynamic reference %s holds an incomplete secret ARN", text)
		}
		id = strings.Join(parts[:7], ":")
		if len(parts) == 8 {
			fields = strings.Split(parts[7], ":")
		}
	} else {
		all := strings.Split(body, ":")
		id, fields = all[0], all[1:]
	}
	if id == "" {
		return Ref{}, fmt.Errorf("the dynamic reference %s names no secret", text)
	}
	if len(fields) > 4 {
		return Ref{}, fmt.Errorf("the dynamic reference %s has too many fields (secret-id:SecretString:json-key:version-stage:version-id)", text)
	}
	fields = append(fields, "", "", "", "")
	if fields[0] != "" && fields[0] != "SecretString" {
		return Ref{}, fmt.Errorf("the dynamic reference %s must read SecretString, not %q", text, fields[0])
	}
	if fields[2] != "" && fields[3] != "" {
		return Ref{}, fmt.Errorf("the dynamic reference %s gives both a version stage and a version id", text)
	}
	return Ref{Text: text, SecretID: id, JSONKey: fields[1], Stage: fields[2], VersionID: fields[3]}, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Resolve replaces every dynamic reference in s by the secret's value (or
// its JSONKey's value). A reference that cannot be resolved is a
// *lambda.Error whose Code is ErrorSecretNotFound or ErrorSecretInvalid and
// whose message names the secret, never a value. Strings without
// references are returned as they are.
func (s *Store) Resolve(ctx context.Context, str string) (string, error) {
	if !HasRefs(str) {
		return str, nil
	}
	refs, err := ParseRefs(str)
	if err != nil {
		return "", refError(ErrorSecretInvalid, "%s", err.Error())
	}
	var b strings.Builder
	rest := str
	for _, ref := range refs {
		i := strings.Index(rest, ref.Text)
		b.WriteString(rest[:i])
		v, err := s.resolve(ctx, ref)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		rest = rest[i+len(ref.Text):]
	}
	b.WriteString(rest)
	return b.String(), nil
}

func (s *Store) resolve(ctx context.Context, ref Ref) (string, error) {
	v, err := s.Value(ctx, ref.SecretID, ref.VersionID, ref.Stage)
	if e, ok := lambda.AsError(err); ok {
		switch e.Code {
		case CodeNotFound:
			return "", refError(ErrorSecretNotFound, "secret %q not found in Secrets Manager (%s)", ref.SecretID, ref.Text)
		case CodeInvalidRequest:
			return "", refError(ErrorSecretNotFound, "secret %q is scheduled for deletion (%s)", ref.SecretID, ref.Text)
		default:
			return "", refError(ErrorSecretInvalid, "secret reference %s: %s", ref.Text, e.Message)
		}
	}
	if err != nil {
		return "", err
	}
	if v.String == nil {
		return "", refError(ErrorSecretInvalid, "secret %q holds a binary value; dynamic references read SecretString", ref.SecretID)
	}
	if ref.JSONKey == "" {
		return *v.String, nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(*v.String), &obj) != nil {
		return "", refError(ErrorSecretInvalid, "secret %q is not a JSON object, so %s cannot read its key %q", ref.SecretID, ref.Text, ref.JSONKey)
	}
	raw, ok := obj[ref.JSONKey]
	if !ok {
		return "", refError(ErrorSecretInvalid, "secret %q has no JSON key %q (%s)", ref.SecretID, ref.JSONKey, ref.Text)
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str, nil
	}
	return string(raw), nil // numbers, booleans, objects: their JSON text
}

func refError(typ, format string, args ...any) error {
	return &lambda.Error{Code: typ, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}
