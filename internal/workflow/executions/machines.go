package executions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
)

// Logging is a state machine's loggingConfiguration, kept as given (nimbus
// writes no CloudWatch logs).
type Logging struct {
	Level                string            `json:"level,omitempty"`
	IncludeExecutionData bool              `json:"includeExecutionData"`
	Destinations         []json.RawMessage `json:"destinations,omitempty"`
}

// Machine is a state machine (or a version of one) as the API describes it.
type Machine struct {
	Name       string
	ARN        string // of the state machine, or of the version described
	Type       string
	RoleARN    string
	Definition string
	Status     string // ACTIVE
	RevisionID string
	Created    time.Time
	Updated    time.Time // zero until the first update
	Logging    Logging
	Tracing    bool
	// VersionARN is the version published by a Create or Update call.
	VersionARN  string
	Description string // of a version
}

// CreateMachineInput is a CreateStateMachine request.
type CreateMachineInput struct {
	Name               string
	Definition         string
	RoleARN            string
	Type               string // "" means STANDARD
	Logging            *Logging
	Tracing            *bool
	Publish            bool
	VersionDescription string
}

// UpdateMachineInput is an UpdateStateMachine request; nil fields are unchanged.
type UpdateMachineInput struct {
	ARN                string
	Definition         *string
	RoleARN            *string
	Logging            *Logging
	Tracing            *bool
	Publish            bool
	VersionDescription string
}

func checkLogging(l *Logging) error {
	if l == nil {
		return nil
	}
	switch l.Level {
	case "", "OFF", "ALL", "ERROR", "FATAL":
	default:
		return validation("1 validation error detected: Value '%s' at 'loggingConfiguration.level' failed to satisfy constraint: Member must satisfy enum value set: [ALL, ERROR, FATAL, OFF]", l.Level)
	}
	if l.Level != "" && l.Level != "OFF" && len(l.Destinations) != 1 {
		return apiError(CodeInvalidLogging, "Invalid Logging Configuration: Must specify exactly one Log Destination.")
	}
	return nil
}

func normLogging(l *Logging) *Logging {
	if l == nil || l.Level == "" && !l.IncludeExecutionData && len(l.Destinations) == 0 {
		return nil
	}
	c := *l
	if c.Level == "" {
		c.Level = "OFF"
	}
	return &c
}

// parseDefinition validates a definition (an *asl.Error becomes InvalidDefinition).
func parseDefinition(text, typ string) (*asl.Definition, error) {
	def, err := asl.Parse([]byte(text), asl.Options{Type: typ})
	if de, ok := errors.AsType[*asl.Error](err); ok {
		return nil, apiError(CodeInvalidDefinition, de.Error())
	}
	return def, err
}

// CreateMachine creates a state machine. Creating one that exists with the
// very same configuration returns it; any difference is
// StateMachineAlreadyExists.
func (s *Service) CreateMachine(ctx context.Context, in CreateMachineInput) (Machine, error) {
	if in.Type == "" {
		in.Type = asl.Standard
	}
	if err := checkName(in.Name, "name"); err != nil {
		return Machine{}, err
	}
	if in.Type != asl.Standard && in.Type != asl.Express {
		return Machine{}, validation("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]", in.Type)
	}
	if in.RoleARN == "" {
		return Machine{}, apiError(CodeMissingRequiredParameter, "roleArn is required")
	}
	if in.VersionDescription != "" && !in.Publish {
		return Machine{}, validation("Version description can only be set when publish is true")
	}
	if err := checkLogging(in.Logging); err != nil {
		return Machine{}, err
	}
	if _, err := parseDefinition(in.Definition, in.Type); err != nil {
		return Machine{}, err
	}
	hash, err := s.st.putDefinition(ctx, in.Definition)
	if err != nil {
		return Machine{}, err
	}
	now := s.now()
	rec := &machineRecord{Name: in.Name, Type: in.Type, RoleARN: in.RoleARN, Definition: hash, Created: now,
		Logging: normLogging(in.Logging), Tracing: in.Tracing != nil && *in.Tracing}
	if in.Publish {
		rec.LastVersion = 1
		rec.Versions = []versionRecord{{Version: 1, Definition: hash, RoleARN: in.RoleARN, Description: in.VersionDescription,
			Created: now, Logging: rec.Logging, Tracing: rec.Tracing}}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return Machine{}, err
	}
	k := key(in.Name)
	rev, err := s.st.machines.Create(ctx, k, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		cur, _, gerr := s.machineRecord(ctx, in.Name)
		if gerr == nil && cur.Type == rec.Type && cur.RoleARN == rec.RoleARN && cur.Definition == rec.Definition &&
			reflect.DeepEqual(cur.Logging, rec.Logging) && cur.Tracing == rec.Tracing && !in.Publish {
			return s.describe(cur, nil), nil
		}
		return Machine{}, apiError(CodeStateMachineAlreadyExist, "State Machine Already Exists: '"+s.arns.machine(in.Name)+"'")
	}
	if err != nil {
		return Machine{}, fmt.Errorf("executions: create state machine %s: %w", in.Name, err)
	}
	s.machines.store(k, rev, rec)
	m := s.describe(rec, nil)
	if in.Publish {
		m.VersionARN = s.arns.version(in.Name, 1)
	}
	return m, nil
}

// machineRecord reads a state machine's record from the cache, falling back
// to KV (a write by another node not yet seen).
func (s *Service) machineRecord(ctx context.Context, name string) (*machineRecord, uint64, error) {
	k := key(name)
	if r, ok := s.machines.get(k); ok {
		return r, 0, nil
	}
	e, err := s.st.machines.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, noMachine(s.arns.machine(name))
	}
	if err != nil {
		return nil, 0, fmt.Errorf("executions: state machine %s: %w", name, err)
	}
	var r machineRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("executions: state machine %s: %w", name, err)
	}
	s.machines.store(k, e.Revision(), &r)
	return &r, e.Revision(), nil
}

// resolveMachine finds the record and, for a version ARN, the version.
func (s *Service) resolveMachine(ctx context.Context, arn string) (*machineRecord, *versionRecord, error) {
	ref, err := s.arns.parseMachine(arn)
	if err != nil {
		return nil, nil, err
	}
	rec, _, err := s.machineRecord(ctx, ref.name)
	if err != nil {
		if e, ok := lambda.AsError(err); ok && e.Code == CodeStateMachineDoesNotExist {
			return nil, nil, noMachine(arn)
		}
		return nil, nil, err
	}
	if ref.version == 0 {
		return rec, nil, nil
	}
	for i := range rec.Versions {
		if rec.Versions[i].Version == ref.version {
			return rec, &rec.Versions[i], nil
		}
	}
	return nil, nil, noMachine(arn)
}

// describe renders a record (or one of its versions) without the definition text.
func (s *Service) describe(r *machineRecord, v *versionRecord) Machine {
	m := Machine{Name: r.Name, ARN: s.arns.machine(r.Name), Type: r.Type, RoleARN: r.RoleARN, Status: "ACTIVE",
		RevisionID: r.RevisionID, Created: r.Created, Updated: r.Updated, Tracing: r.Tracing}
	if r.Logging != nil {
		m.Logging = *r.Logging
	} else {
		m.Logging = Logging{Level: "OFF"}
	}
	if v != nil {
		m.ARN = s.arns.version(r.Name, v.Version)
		m.RoleARN, m.RevisionID, m.Created, m.Updated, m.Description, m.Tracing = v.RoleARN, v.RevisionID, v.Created, time.Time{}, v.Description, v.Tracing
		if v.Logging != nil {
			m.Logging = *v.Logging
		}
	}
	return m
}

// DescribeMachine describes a state machine or one of its versions.
func (s *Service) DescribeMachine(ctx context.Context, arn string) (Machine, error) {
	r, v, err := s.resolveMachine(ctx, arn)
	if err != nil {
		return Machine{}, err
	}
	m := s.describe(r, v)
	hash := r.Definition
	if v != nil {
		hash = v.Definition
	}
	if m.Definition, err = s.definitionText(ctx, hash); err != nil {
		return Machine{}, err
	}
	return m, nil
}

// UpdateMachine changes a state machine's definition, role, logging or
// tracing. The revision id changes only when something did; with Publish a
// version of the result is published.
func (s *Service) UpdateMachine(ctx context.Context, in UpdateMachineInput) (Machine, error) {
	if in.Definition == nil && in.RoleARN == nil && in.Logging == nil && in.Tracing == nil {
		return Machine{}, apiError(CodeMissingRequiredParameter, "Either the definition, the role ARN, the LoggingConfiguration, or the TracingConfiguration must be specified")
	}
	if in.VersionDescription != "" && !in.Publish {
		return Machine{}, validation("Version description can only be set when publish is true")
	}
	ref, err := s.arns.parseMachine(in.ARN)
	if err != nil {
		return Machine{}, err
	}
	if ref.version != 0 {
		return Machine{}, invalidARN(in.ARN)
	}
	if err := checkLogging(in.Logging); err != nil {
		return Machine{}, err
	}
	k := key(ref.name)
	var hash string
	for attempt := 0; attempt < 16; attempt++ {
		e, err := s.st.machines.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Machine{}, noMachine(in.ARN)
		}
		if err != nil {
			return Machine{}, fmt.Errorf("executions: state machine %s: %w", ref.name, err)
		}
		var rec machineRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return Machine{}, err
		}
		if in.Definition != nil && hash == "" {
			if _, err := parseDefinition(*in.Definition, rec.Type); err != nil {
				return Machine{}, err
			}
			if hash, err = s.st.putDefinition(ctx, *in.Definition); err != nil {
				return Machine{}, err
			}
		}
		before := rec
		if hash != "" {
			rec.Definition = hash
		}
		if in.RoleARN != nil {
			rec.RoleARN = *in.RoleARN
		}
		if in.Logging != nil {
			rec.Logging = normLogging(in.Logging)
		}
		if in.Tracing != nil {
			rec.Tracing = *in.Tracing
		}
		now := s.now()
		changed := rec.Definition != before.Definition || rec.RoleARN != before.RoleARN ||
			!reflect.DeepEqual(rec.Logging, before.Logging) || rec.Tracing != before.Tracing
		if changed || rec.RevisionID == "" {
			rec.RevisionID = lambda.NewRequestID()
		}
		rec.Updated = now
		versionARN := ""
		if in.Publish {
			last := len(rec.Versions) - 1
			if last >= 0 && rec.Versions[last].RevisionID == rec.RevisionID && rec.Versions[last].Definition == rec.Definition {
				versionARN = s.arns.version(rec.Name, rec.Versions[last].Version)
			} else {
				rec.LastVersion++
				rec.Versions = append(slices.Clip(rec.Versions), versionRecord{Version: rec.LastVersion, RevisionID: rec.RevisionID,
					Definition: rec.Definition, RoleARN: rec.RoleARN, Description: in.VersionDescription, Created: now,
					Logging: rec.Logging, Tracing: rec.Tracing})
				versionARN = s.arns.version(rec.Name, rec.LastVersion)
			}
		}
		b, err := json.Marshal(&rec)
		if err != nil {
			return Machine{}, err
		}
		rev, err := s.st.machines.Update(ctx, k, b, e.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return Machine{}, fmt.Errorf("executions: update state machine %s: %w", ref.name, err)
		}
		s.machines.store(k, rev, &rec)
		m := s.describe(&rec, nil)
		m.VersionARN = versionARN
		return m, nil
	}
	return Machine{}, apiError("ConflictException", "The state machine is being updated concurrently; retry.")
}

// DeleteMachine deletes a state machine and its versions. Running
// executions continue (they keep their definition). Deleting a state
// machine that does not exist succeeds, as on AWS.
func (s *Service) DeleteMachine(ctx context.Context, arn string) error {
	ref, err := s.arns.parseMachine(arn)
	if err != nil {
		if e, ok := lambda.AsError(err); ok && e.Code == CodeStateMachineDoesNotExist {
			return nil
		}
		return err
	}
	k := key(ref.name)
	if ref.version != 0 {
		return invalidARN(arn)
	}
	if err := s.st.machines.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("executions: delete state machine %s: %w", ref.name, err)
	}
	s.machines.tombstone(k)
	return nil
}

// ListMachines lists state machines by name, a page at a time.
func (s *Service) ListMachines(ctx context.Context, maxResults int, nextToken string) ([]Machine, string, error) {
	n, err := checkMaxResults(maxResults)
	if err != nil {
		return nil, "", err
	}
	after := ""
	if nextToken != "" {
		if after, err = readPageToken(nextToken, 1024); err != nil {
			return nil, "", err
		}
	}
	var all []*machineRecord
	s.machines.each(func(_ string, r *machineRecord) { all = append(all, r) })
	slices.SortFunc(all, func(a, b *machineRecord) int { return strings.Compare(a.Name, b.Name) })
	var out []Machine
	for _, r := range all {
		if nextToken != "" && r.Name <= after {
			continue
		}
		if len(out) == n {
			return out, pageToken(out[n-1].Name), nil
		}
		out = append(out, s.describe(r, nil))
	}
	return out, "", nil
}

// definitionText returns a definition by hash (cached: definitions never change).
func (s *Service) definitionText(ctx context.Context, hash string) (string, error) {
	s.mu.Lock()
	t, ok := s.defText[hash]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := s.st.definition(ctx, hash)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.defText[hash] = t
	s.mu.Unlock()
	return t, nil
}

// compiled returns the parsed definition for a hash and machine type.
func (s *Service) compiled(ctx context.Context, hash, typ string) (*asl.Definition, error) {
	ck := hash + "/" + typ
	s.mu.Lock()
	d, ok := s.defs[ck]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	text, err := s.definitionText(ctx, hash)
	if err != nil {
		return nil, err
	}
	if d, err = asl.Parse([]byte(text), asl.Options{Type: typ}); err != nil {
		return nil, fmt.Errorf("executions: stored definition %s no longer parses: %w", hash, err)
	}
	s.mu.Lock()
	s.defs[ck] = d
	s.mu.Unlock()
	return d, nil
}
