package asl

import (
	"fmt"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Machine types.
const (
	Standard = "STANDARD"
	Express  = "EXPRESS"
)

// Options tune validation.
type Options struct {
	// Type is the state machine type, STANDARD (the default) or EXPRESS:
	// Express machines may not use activities, .sync or .waitForTaskToken.
	Type string
}

// Parse parses and validates a definition. An invalid definition returns
// an *Error listing every problem found.
func Parse(text []byte, opts Options) (*Definition, error) {
	def, diags := parse(text, opts)
	for _, d := range diags {
		if d.Severity == "ERROR" {
			return nil, &Error{Diagnostics: diags}
		}
	}
	return def, nil
}

// Validate returns the problems in a definition (an empty list when valid),
// as ValidateStateMachineDefinition does.
func Validate(text []byte, opts Options) []Diagnostic {
	_, diags := parse(text, opts)
	if diags == nil {
		diags = []Diagnostic{}
	}
	return diags
}

func parse(text []byte, opts Options) (*Definition, []Diagnostic) {
	c := &checker{opts: opts}
	if strings.TrimSpace(string(text)) == "" {
		c.errAt("", CodeSchema, "Definition must be a valid JSON object")
		return nil, c.diags
	}
	v, err := jsonv.Parse(text)
	if err != nil {
		msg, loc := jacksonError(text, err)
		c.errAt(loc, CodeInvalidJSON, msg)
		return nil, c.diags
	}
	root, ok := v.(*jsonv.Object)
	if !ok {
		c.errAt("", CodeSchema, "Definition must be a valid JSON object")
		return nil, c.diags
	}
	def := &Definition{QueryLanguage: JSONPath, Source: text}
	var missing []string
	if _, ok := root.Get("States"); !ok {
		missing = append(missing, "States")
	}
	if _, ok := root.Get("StartAt"); !ok {
		missing = append(missing, "StartAt")
	}
	if len(missing) > 0 {
		c.errAt("/", CodeSchema, "These fields are required: ["+strings.Join(missing, ", ")+"]")
		return nil, c.diags
	}
	if ql, ok := root.Get("QueryLanguage"); ok {
		def.QueryLanguage = c.queryLanguage(ql, "/QueryLanguage")
	}
	for _, m := range root.Members() {
		loc := "/" + m.Key
		switch m.Key {
		case "States", "StartAt", "QueryLanguage":
		case "Comment":
			def.Comment = c.str(m.Value, loc)
		case "Version":
			def.Version = c.str(m.Value, loc)
			if def.Version != "" && def.Version != "1.0" {
				c.errAt(loc, CodeSchema, "The value for the field 'Version' must be 1.0")
			}
		case "TimeoutSeconds":
			def.TimeoutSeconds = c.positiveInt(m.Value, loc, "TimeoutSeconds")
		default:
			c.unknownField(m.Key, "")
		}
	}
	c.topQL = def.QueryLanguage
	c.machine(&def.Machine, root, "", def.QueryLanguage, true)
	if len(c.diags) > 0 {
		return def, c.diags
	}
	return def, nil
}

type checker struct {
	opts  Options
	topQL string // the whole machine's query language
	diags []Diagnostic
}

func (c *checker) errAt(loc, code, msg string) {
	c.diags = append(c.diags, Diagnostic{Severity: "ERROR", Code: code, Message: msg, Location: loc})
}

func (c *checker) schema(loc, format string, args ...any) {
	c.errAt(loc, CodeSchema, fmt.Sprintf(format, args...))
}

func (c *checker) unknownField(name, loc string) {
	if loc == "" {
		loc = "/"
	}
	c.schema(loc, "The field %q is not supported by Step Functions", name)
}

func (c *checker) str(v any, loc string) string {
	s, ok := v.(string)
	if !ok {
		c.schema(loc, "Expected value of type String")
	}
	return s
}

func (c *checker) boolean(v any, loc string) bool {
	b, ok := v.(bool)
	if !ok {
		c.schema(loc, "Expected value of type Boolean")
	}
	return b
}

func (c *checker) integer(v any, loc string) (int64, bool) {
	n, ok := v.(jsonv.Number)
	if ok {
		if i, ok := n.Int64(); ok {
			return i, true
		}
	}
	c.schema(loc, "Expected value of type Integer")
	return 0, false
}

func (c *checker) positiveInt(v any, loc, field string) int64 {
	i, ok := c.integer(v, loc)
	if ok && i <= 0 {
		c.schema(loc, "The value for the field '%s' must be positive", field)
	}
	return i
}

func (c *checker) nonNegativeInt(v any, loc, field string) int64 {
	i, ok := c.integer(v, loc)
	if ok && i < 0 {
		c.schema(loc, "The value for the field '%s' must be non-negative", field)
	}
	return i
}

func (c *checker) number(v any, loc string) (float64, bool) {
	n, ok := v.(jsonv.Number)
	if !ok {
		c.schema(loc, "Expected value of type Number")
		return 0, false
	}
	return n.Float64(), true
}

func (c *checker) object(v any, loc string) *jsonv.Object {
	o, ok := v.(*jsonv.Object)
	if !ok {
		c.schema(loc, "Expected value of type Object")
	}
	return o
}

func (c *checker) queryLanguage(v any, loc string) string {
	s, ok := v.(string)
	if !ok || (s != JSONPath && s != JSONata) {
		c.schema(loc, "The value for the field 'QueryLanguage' must be one of [JSONPath, JSONata]")
		return JSONPath
	}
	return s
}

// path compiles a JSONPath field value ($, $$ or $var).
func (c *checker) path(v any, loc, field string) *jsonpath.Path {
	s, ok := v.(string)
	if !ok {
		c.schema(loc, "The value for the field '%s' must be a valid JSONPath", field)
		return nil
	}
	p, err := jsonpath.Parse(s)
	if err != nil {
		c.schema(loc, "The value for the field '%s' must be a valid JSONPath", field)
		return nil
	}
	return p
}

func (c *checker) referencePath(v any, loc, field string) *jsonpath.Path {
	p := c.path(v, loc, field)
	if p != nil && !p.IsReference() {
		c.schema(loc, "The value for the field '%s' must be a valid ReferencePath", field)
		return nil
	}
	return p
}

func (c *checker) pathField(v any, loc, field string, reference bool) PathField {
	if v == nil {
		return PathField{Null: true}
	}
	var p *jsonpath.Path
	if reference {
		p = c.referencePath(v, loc, field)
		if p != nil && p.Root() != jsonpath.RootInput {
			c.schema(loc, "The value for the field '%s' must be a valid ReferencePath", field)
			p = nil
		}
	} else {
		p = c.path(v, loc, field)
	}
	return PathField{Path: p}
}

func (c *checker) template(v any, loc, field string) *jsonpath.Template {
	t, err := jsonpath.CompileTemplate(v)
	if err != nil {
		if te, ok := err.(*jsonpath.TemplateError); ok {
			c.schema(loc, "The value for the field '%s' must be a valid JSONPath or a valid intrinsic function call", te.Field)
		} else {
			c.schema(loc, "The field '%s' is invalid", field)
		}
		return nil
	}
	return t
}

func (c *checker) assign(v any, loc string, jsonata bool) *jsonpath.Template {
	o := c.object(v, loc)
	if o == nil {
		return nil
	}
	for _, m := range o.Members() {
		name := strings.TrimSuffix(m.Key, ".$")
		if jsonata && name != m.Key {
			c.schema(loc, "The field '%s' is not supported in JSONata", m.Key)
		}
		if !jsonpath.IsVariableName(name) {
			c.schema(loc, "The variable name '%s' is invalid", name)
		}
		if len(name) > 80 {
			c.schema(loc, "The variable name '%s' is longer than 80 characters", name)
		}
	}
	if jsonata {
		// Expressions stay text: the template is all literals.
		t, _ := jsonpath.CompileTemplate(jsonv.NewObject(0))
		return t
	}
	return c.template(v, loc, "Assign")
}

func isJSONataExpr(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "{%") && strings.HasSuffix(s, "%}")
}
