package executions

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Error codes: Step Functions' exception names. Every error the Service
// returns to a caller is a *lambda.Error with one of these codes (status
// 400), except internal failures, which are plain errors.
const (
	CodeExecutionAlreadyExists   = "ExecutionAlreadyExists"
	CodeExecutionDoesNotExist    = "ExecutionDoesNotExist"
	CodeInvalidArn               = "InvalidArn"
	CodeInvalidDefinition        = "InvalidDefinition"
	CodeInvalidExecutionInput    = "InvalidExecutionInput"
	CodeInvalidLogging           = "InvalidLoggingConfiguration"
	CodeInvalidName              = "InvalidName"
	CodeInvalidOutput            = "InvalidOutput"
	CodeInvalidToken             = "InvalidToken"
	CodeMissingRequiredParameter = "MissingRequiredParameter"
	CodeStateMachineAlreadyExist = "StateMachineAlreadyExists"
	CodeStateMachineDoesNotExist = "StateMachineDoesNotExist"
	CodeTypeNotSupported         = "StateMachineTypeNotSupported"
	CodeTaskDoesNotExist         = "TaskDoesNotExist"
	CodeTaskTimedOut             = "TaskTimedOut"
	CodeValidation               = "ValidationException"
	// CodeUnavailable is answered when the server stops while a call waits
	// for its effect to become durable; the client may retry.
	CodeUnavailable = "ServiceUnavailable"
)

func apiError(code, msg string) *lambda.Error {
	return &lambda.Error{Code: code, Status: http.StatusBadRequest, Message: msg}
}

func unavailable() *lambda.Error {
	return &lambda.Error{Code: CodeUnavailable, Status: http.StatusServiceUnavailable,
		Message: "The server is shutting down; retry the request."}
}

func noMachine(arn string) error {
	return apiError(CodeStateMachineDoesNotExist, "State Machine Does Not Exist: '"+arn+"'")
}

func noExecution(arn string) error {
	return apiError(CodeExecutionDoesNotExist, "Execution Does Not Exist: '"+arn+"'")
}

func validation(format string, args ...any) error { return lambda.Validation(format, args...) }

// arns builds and parses the ARNs of one region and account.
type arns struct{ region, account string }

func (a arns) prefix() string { return "arn:aws:states:" + a.region + ":" + a.account + ":" }

func (a arns) machine(name string) string { return a.prefix() + "stateMachine:" + name }

func (a arns) version(name string, v int) string {
	return a.machine(name) + ":" + strconv.Itoa(v)
}

func (a arns) execution(machine, name string) string {
	return a.prefix() + "execution:" + machine + ":" + name
}

func (a arns) express(machine, name, id string) string {
	return a.prefix() + "express:" + machine + ":" + name + ":" + id
}

// machineRef is a parsed state machine ARN, possibly of a version.
type machineRef struct {
	name    string
	version int // 0: the state machine itself
}

// parseMachine parses a state machine (or version) ARN. A malformed ARN is
// InvalidArn; one of another region or account names no state machine.
func (a arns) parseMachine(arn string) (machineRef, error) {
	rest, err := a.resource(arn, "stateMachine")
	if err != nil {
		return machineRef{}, err
	}
	name, qual, hasQual := strings.Cut(rest, ":")
	ref := machineRef{name: name}
	if hasQual {
		v, err := strconv.Atoi(qual)
		if err != nil || v <= 0 {
			// An alias: nimbus has none.
			return machineRef{}, noMachine(arn)
		}
		ref.version = v
	}
	if name == "" {
		return machineRef{}, invalidARN(arn)
	}
	return ref, nil
}

// execRef is a parsed execution ARN.
type execRef struct {
	machine, name string
}

func (a arns) parseExecution(arn string) (execRef, error) {
	if p := strings.SplitN(arn, ":", 7); len(p) >= 6 && p[0] == "arn" && p[2] == "states" && p[5] == "express" {
		return execRef{}, apiError(CodeInvalidArn, "Invalid Arn: 'Resource type not valid in this context: express'")
	}
	rest, err := a.resource(arn, "execution")
	if err != nil {
		return execRef{}, err
	}
	machine, name, ok := strings.Cut(rest, ":")
	if !ok || machine == "" || name == "" || strings.Contains(name, ":") {
		return execRef{}, invalidARN(arn)
	}
	return execRef{machine: machine, name: name}, nil
}

func invalidARN(arn string) error {
	return apiError(CodeInvalidArn, "Invalid Arn: '"+arn+"'")
}

// resource checks an ARN's prefix and resource type and returns what
// follows "<type>:". ARNs of another region or account are reported as
// not existing (notFound), as Step Functions does.
func (a arns) resource(arn, typ string) (string, error) {
	p := strings.SplitN(arn, ":", 7)
	if len(p) < 7 || p[0] != "arn" || !strings.HasPrefix(p[1], "aws") || p[2] != "states" {
		return "", apiError(CodeInvalidArn, "Invalid Arn: 'Invalid ARN prefix: "+arn+"'")
	}
	if p[5] != typ {
		return "", apiError(CodeInvalidArn, "Invalid Arn: 'Resource type not valid in this context: "+p[5]+"'")
	}
	if p[3] != a.region || p[4] != a.account {
		if typ == "execution" {
			return "", noExecution(arn)
		}
		return "", noMachine(arn)
	}
	return p[6], nil
}

// checkName validates a state machine or execution name as Step Functions
// does: 1 to 80 characters, none of whitespace, brackets, wildcards,
// "#%\^|~`$&,;:/ or control characters.
func checkName(name, field string) error {
	if name == "" || utf8.RuneCountInString(name) > 80 {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 80", name, field)
	}
	for _, r := range name {
		switch {
		case r <= 0x20, r >= 0x7f && r <= 0x9f, r == 0xfffe, r == 0xffff:
			return apiError(CodeInvalidName, "Invalid Name: '"+name+"'")
		case strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r):
			return apiError(CodeInvalidName, "Invalid Name: '"+name+"'")
		}
	}
	return nil
}

// key encodes names for KV keys and subjects (base64url, which both allow).
func key(parts ...string) string {
	enc := make([]string, len(parts))
	for i, p := range parts {
		enc[i] = base64.RawURLEncoding.EncodeToString([]byte(p))
	}
	return strings.Join(enc, ".")
}

// pageToken encodes a pagination position (an opaque string to clients).
func pageToken(pos string) string { return base64.RawURLEncoding.EncodeToString([]byte(pos)) }

// readPageToken decodes a token made by pageToken.
func readPageToken(tok string, maxLen int) (string, error) {
	if len(tok) > maxLen {
		return "", validation("1 validation error detected: Value '%s' at 'nextToken' failed to satisfy constraint: Member must have length less than or equal to %d", tok, maxLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", apiError("InvalidToken", "Invalid Token: '"+tok+"'")
	}
	return string(b), nil
}

// checkMaxResults validates maxResults (0 means the default, 100).
func checkMaxResults(n int) (int, error) {
	switch {
	case n > 1000:
		return 0, validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000", n)
	case n < 0:
		return 0, validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 0", n)
	case n == 0:
		return 100, nil
	}
	return n, nil
}
