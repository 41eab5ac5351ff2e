package executions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// The JetStream layout (part of the on-disk format; see ARCHITECTURE.md).
const (
	// MachinesBucket: key = base64url(name), value = JSON machineRecord.
	MachinesBucket = "sfn_state_machines"
	// DefinitionsBucket: key = hex SHA-256 of a definition, value = its text.
	// Content-addressed, so executions keep the definition they started
	// with after the state machine is updated or deleted.
	DefinitionsBucket = "sfn_definitions"
	// ExecutionsBucket: key = base64url(machine name) "." base64url(execution
	// name), value = JSON execRecord (one per Standard execution).
	ExecutionsBucket = "sfn_executions"
	// HistoryStream holds every commit of every Standard execution: subject
	// "sfn.history.<execution key>", one message per engine commit, body =
	// JSON {"v":1,"events":[HistoryEvent…],"snapshot":engine.Snapshot|null}.
	// The events are in GetExecutionHistory's wire shape; the last message
	// of a subject holds the snapshot an execution resumes from.
	HistoryStream  = "SFN_HISTORY"
	historySubject = "sfn.history."
)

// machineRecord is the durable record of a state machine.
type machineRecord struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	RoleARN     string          `json:"roleArn"`
	Definition  string          `json:"definition"` // hash in DefinitionsBucket
	Created     time.Time       `json:"created"`
	Updated     time.Time       `json:"updated,omitzero"`
	RevisionID  string          `json:"revisionId,omitempty"`
	Logging     *Logging        `json:"logging,omitempty"`
	Tracing     bool            `json:"tracing,omitempty"`
	Versions    []versionRecord `json:"versions,omitempty"`
	LastVersion int             `json:"lastVersion,omitempty"`
}

// versionRecord is a published version of a state machine.
type versionRecord struct {
	Version     int       `json:"version"`
	RevisionID  string    `json:"revisionId,omitempty"`
	Definition  string    `json:"definition"`
	RoleARN     string    `json:"roleArn"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	Logging     *Logging  `json:"logging,omitempty"`
	Tracing     bool      `json:"tracing,omitempty"`
}

// execRecord is the durable record of a Standard execution: written when it
// starts (before StartExecution answers) and when it ends. The history
// stream is the source of truth for its progress; at start the service
// repairs a record whose execution ended without the record saying so.
type execRecord struct {
	ARN         string    `json:"arn"`
	Name        string    `json:"name"`
	Machine     string    `json:"machine"` // state machine name
	Version     int       `json:"version,omitempty"`
	Type        string    `json:"type"`
	RoleARN     string    `json:"roleArn"`
	Definition  string    `json:"definition"` // hash
	RevisionID  string    `json:"revisionId,omitempty"`
	MachineDate time.Time `json:"machineDate"` // the definition's updateDate (or creationDate)
	Logging     *Logging  `json:"logging,omitempty"`
	Tracing     bool      `json:"tracing,omitempty"`
	Status      string    `json:"status"`
	Start       time.Time `json:"start"`
	Stop        time.Time `json:"stop,omitzero"`
	Input       string    `json:"input"`
	Output      *string   `json:"output,omitempty"`
	Error       *string   `json:"error,omitempty"`
	Cause       *string   `json:"cause,omitempty"`
	TraceHeader string    `json:"traceHeader,omitempty"`
	// StartedBy is the task attempt (engine.TaskRequest.ID) of a parent
	// execution that started this one with states:startExecution.
	StartedBy string `json:"startedBy,omitempty"`
}

func (r *execRecord) key() string { return key(r.Machine, r.Name) }

// commitBody is one message of HistoryStream.
type commitBody struct {
	V        int               `json:"v"`
	Events   []json.RawMessage `json:"events"`
	Snapshot *engine.Snapshot  `json:"snapshot"`
}

// encodeCommit appends a commit to b: the events in their wire shape and
// the snapshot (nil once the execution has ended). The snapshot is stored
// without the execution input, which never changes and is in the
// execution's record (resume puts it back).
func encodeCommit(b []byte, events []engine.Event, snap *engine.Snapshot, ended bool) ([]byte, error) {
	b = append(b, `{"v":1,"events":[`...)
	for i, ev := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendWireEvent(b, ev)
	}
	b = append(b, `],"snapshot":`...)
	if ended || snap == nil {
		b = append(b, "null"...)
	} else {
		input := snap.Input
		snap.Input = jsonv.Value{}
		buf := bytes.NewBuffer(b)
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		err := enc.Encode(snap)
		snap.Input = input
		if err != nil {
			return nil, fmt.Errorf("executions: snapshot: %w", err)
		}
		b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	return append(b, '}'), nil
}

var tsField = []byte(`"timestamp":"`)

// appendWireEvent appends ev as GetExecutionHistory returns it in the AWS
// JSON protocol: the engine's shape with the timestamp in epoch seconds.
func appendWireEvent(b []byte, ev engine.Event) []byte {
	raw, _ := ev.MarshalJSON()
	i := bytes.Index(raw, tsField)
	if i < 0 {
		return append(b, raw...)
	}
	j := bytes.IndexByte(raw[i+len(tsField):], '"')
	b = append(b, raw[:i+len(tsField)-1]...)
	b = appendEpoch(b, ev.Timestamp)
	return append(b, raw[i+len(tsField)+j+1:]...)
}

// appendEpoch appends t as epoch seconds with milliseconds, the AWS JSON
// protocol's timestamp format.
func appendEpoch(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := ms % 1000
	if frac < 0 {
		frac = -frac
	}
	return append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// definitionHash is the key of a definition in DefinitionsBucket.
func definitionHash(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// store wraps the buckets and the stream.
type store struct {
	js       jetstream.JetStream
	machines jetstream.KeyValue
	defs     jetstream.KeyValue
	execs    jetstream.KeyValue
	history  jetstream.Stream
}

func openStore(ctx context.Context, js jetstream.JetStream) (*store, error) {
	st := &store{js: js}
	kv := func(name string) (jetstream.KeyValue, error) {
		b, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, History: 1, Storage: jetstream.FileStorage})
		if err != nil {
			return nil, fmt.Errorf("executions: kv %s: %w", name, err)
		}
		return b, nil
	}
	var err error
	if st.machines, err = kv(MachinesBucket); err != nil {
		return nil, err
	}
	if st.defs, err = kv(DefinitionsBucket); err != nil {
		return nil, err
	}
	if st.execs, err = kv(ExecutionsBucket); err != nil {
		return nil, err
	}
	st.history, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        HistoryStream,
		Description: "Step Functions execution histories and snapshots",
		Subjects:    []string{historySubject + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("executions: stream %s: %w", HistoryStream, err)
	}
	return st, nil
}

func (st *store) putDefinition(ctx context.Context, text string) (string, error) {
	h := definitionHash(text)
	if _, err := st.defs.Get(ctx, h); err == nil {
		return h, nil
	}
	if _, err := st.defs.Put(ctx, h, []byte(text)); err != nil {
		return "", fmt.Errorf("executions: store definition: %w", err)
	}
	return h, nil
}

func (st *store) definition(ctx context.Context, hash string) (string, error) {
	e, err := st.defs.Get(ctx, hash)
	if err != nil {
		return "", fmt.Errorf("executions: definition %s: %w", hash, err)
	}
	return string(e.Value()), nil
}

func (st *store) execution(ctx context.Context, k string) (*execRecord, uint64, error) {
	e, err := st.execs.Get(ctx, k)
	if err != nil {
		return nil, 0, err
	}
	var r execRecord
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("executions: record %s: %w", k, err)
	}
	return &r, e.Revision(), nil
}

// lastCommit returns the last commit of an execution and its stream
// sequence; seq 0 when it has none.
func (st *store) lastCommit(ctx context.Context, k string) (*commitBody, uint64, error) {
	m, err := st.history.GetLastMsgForSubject(ctx, historySubject+k)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("executions: last commit of %s: %w", k, err)
	}
	var c commitBody
	if err := json.Unmarshal(m.Data, &c); err != nil {
		return nil, 0, fmt.Errorf("executions: commit %d: %w", m.Sequence, err)
	}
	return &c, m.Sequence, nil
}

// events reads an execution's whole history from the stream.
func (st *store) events(ctx context.Context, k string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	subj := historySubject + k
	for seq := uint64(1); ; {
		m, err := st.history.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("executions: history of %s: %w", k, err)
		}
		var c struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(m.Data, &c); err != nil {
			return nil, fmt.Errorf("executions: commit %d: %w", m.Sequence, err)
		}
		out = append(out, c.Events...)
		seq = m.Sequence + 1
	}
}
