package lambda

import (
	"regexp"
	"strings"
)

// Region and Account are the fixed identity of a nimbus installation in ARNs.
const (
	Region  = "us-east-1"
	Account = "000000000000"
	// Latest is the qualifier of the unpublished, mutable version.
	Latest = "$LATEST"
)

var (
	nameRE      = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	qualifierRE = regexp.MustCompile(`^(\$LATEST|[0-9]{1,10}|[a-zA-Z0-9_-]{1,128})$`)
	// arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER], ACCOUNT:function:NAME[:Q], NAME[:Q]
	fullARNRE    = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([^:]+)(?::([^:]+))?$`)
	partialARNRE = regexp.MustCompile(`^(\d{12}):function:([^:]+)(?::([^:]+))?$`)
)

// FunctionARN returns the unqualified ARN of a function.
func FunctionARN(name string) string {
	return "arn:aws:lambda:" + Region + ":" + Account + ":function:" + name
}

// QualifiedARN returns the ARN of a version or alias of a function.
func QualifiedARN(name, qualifier string) string {
	return FunctionARN(name) + ":" + qualifier
}

// ValidName reports whether name is a valid function name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// ParseFunctionRef splits what clients pass as FunctionName — a name, name:qualifier,
// a partial ARN (ACCOUNT:function:NAME[:Q]) or a full ARN — into name and qualifier.
// A qualifier given separately (the Qualifier query parameter) must agree with one in the reference.
func ParseFunctionRef(ref, qualifier string) (name, q string, err error) {
	if len(ref) == 0 || len(ref) > 170 {
		return "", "", InvalidParameter("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 170", ref)
	}
	switch {
	case strings.HasPrefix(ref, "arn:"):
		m := fullARNRE.FindStringSubmatch(ref)
		if m == nil {
			return "", "", InvalidParameter("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", ref)
		}
		name, q = m[3], m[4]
	case partialARNRE.MatchString(ref):
		m := partialARNRE.FindStringSubmatch(ref)
		name, q = m[2], m[3]
	default:
		name = ref
		if i := strings.IndexByte(ref, ':'); i >= 0 {
			name, q = ref[:i], ref[i+1:]
		}
	}
	if !ValidName(name) {
		return "", "", InvalidParameter("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?", ref)
	}
	if qualifier != "" {
		if q != "" && q != qualifier {
			return "", "", InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
		}
		q = qualifier
	}
	if q != "" && !qualifierRE.MatchString(q) {
		return "", "", InvalidParameter("1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)", q)
	}
	return name, q, nil
}
