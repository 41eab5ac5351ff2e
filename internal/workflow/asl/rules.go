package asl

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

func (c *checker) errorEquals(o *jsonv.Object, loc string, last bool) []string {
	v, ok := o.Get("ErrorEquals")
	if !ok {
		c.schema(loc, "These fields are required: [ErrorEquals]")
		return nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		c.schema(loc+"/ErrorEquals", "The field 'ErrorEquals' must contain at least one error name")
		return nil
	}
	var out []string
	for i, e := range arr {
		s := c.str(e, fmt.Sprintf("%s/ErrorEquals[%d]", loc, i))
		if s == "States.ALL" && (len(arr) > 1 || !last) {
			c.schema(loc+"/ErrorEquals", "States.ALL must appear alone, in the last retrier or catcher")
		}
		out = append(out, s)
	}
	return out
}

func (c *checker) retrier(v any, loc string, last bool) *Retrier {
	o := c.object(v, loc)
	if o == nil {
		return nil
	}
	r := &Retrier{IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2.0, JitterStrategy: "NONE"}
	r.ErrorEquals = c.errorEquals(o, loc, last)
	for _, m := range o.Members() {
		floc := loc + "/" + m.Key
		switch m.Key {
		case "ErrorEquals", "Comment":
		case "IntervalSeconds":
			r.IntervalSeconds = c.positiveInt(m.Value, floc, m.Key)
			if r.IntervalSeconds > 99999999 {
				c.schema(floc, "The value for the field 'IntervalSeconds' must be smaller than 99999999")
			}
		case "MaxAttempts":
			r.MaxAttempts = c.nonNegativeInt(m.Value, floc, m.Key)
			if r.MaxAttempts > 99999999 {
				c.schema(floc, "The value for the field 'MaxAttempts' must be smaller than 99999999")
			}
		case "BackoffRate":
			f, ok := c.number(m.Value, floc)
			if ok && f < 1 {
				c.schema(floc, "The value for the field 'BackoffRate' must be at least 1.0")
			}
			r.BackoffRate = f
		case "MaxDelaySeconds":
			r.MaxDelaySeconds = c.positiveInt(m.Value, floc, m.Key)
		case "JitterStrategy":
			r.JitterStrategy = c.str(m.Value, floc)
			if r.JitterStrategy != "FULL" && r.JitterStrategy != "NONE" {
				c.schema(floc, "The value for the field 'JitterStrategy' must be one of [FULL, NONE]")
			}
		default:
			c.unknownField(m.Key, loc)
		}
	}
	return r
}

func (c *checker) catcher(v any, loc string, last, jsonata bool) *Catcher {
	o := c.object(v, loc)
	if o == nil {
		return nil
	}
	k := &Catcher{}
	k.ErrorEquals = c.errorEquals(o, loc, last)
	if _, ok := o.Get("Next"); !ok {
		c.schema(loc, "These fields are required: [Next]")
	}
	for _, m := range o.Members() {
		floc := loc + "/" + m.Key
		switch m.Key {
		case "ErrorEquals", "Comment":
		case "Next":
			k.Next = c.str(m.Value, floc)
		case "ResultPath":
			if jsonata {
				c.schema(loc, "The field 'ResultPath' is not supported when QueryLanguage is JSONata")
				continue
			}
			k.ResultPath = c.pathField(m.Value, floc, m.Key, true)
		case "Assign":
			k.Assign = c.assign(m.Value, floc, jsonata)
		case "Output":
			if !jsonata {
				c.schema(loc, "The field 'Output' is not supported when QueryLanguage is JSONPath")
				continue
			}
			k.Output, k.HasOutput = m.Value, true
		default:
			c.unknownField(m.Key, loc)
		}
	}
	return k
}

// comparison operators and the operand type of their literal form.
var comparisons = map[string]string{
	"StringEquals": "string", "StringLessThan": "string", "StringGreaterThan": "string",
	"StringLessThanEquals": "string", "StringGreaterThanEquals": "string", "StringMatches": "string",
	"NumericEquals": "number", "NumericLessThan": "number", "NumericGreaterThan": "number",
	"NumericLessThanEquals": "number", "NumericGreaterThanEquals": "number",
	"BooleanEquals":   "boolean",
	"TimestampEquals": "timestamp", "TimestampLessThan": "timestamp", "TimestampGreaterThan": "timestamp",
	"TimestampLessThanEquals": "timestamp", "TimestampGreaterThanEquals": "timestamp",
	"IsNull": "boolean", "IsPresent": "boolean", "IsNumeric": "boolean", "IsString": "boolean",
	"IsBoolean": "boolean", "IsTimestamp": "boolean",
}

// IsComparison reports whether op is a Choice comparison operator (literal
// or ...Path form).
func IsComparison(op string) bool {
	if _, ok := comparisons[op]; ok {
		return true
	}
	base, ok := strings.CutSuffix(op, "Path")
	if !ok || strings.HasPrefix(base, "Is") {
		return false
	}
	_, ok = comparisons[base]
	return ok
}

func (c *checker) rule(v any, loc string, top, jsonata bool) *ChoiceRule {
	o := c.object(v, loc)
	if o == nil {
		return nil
	}
	r := &ChoiceRule{}
	ops := 0
	for _, m := range o.Members() {
		floc := loc + "/" + m.Key
		switch {
		case m.Key == "Comment":
		case m.Key == "Next":
			if !top {
				c.schema(floc, "Nested choice rules may not have a 'Next' field")
			}
			r.Next = c.str(m.Value, floc)
		case m.Key == "Assign":
			if !top {
				c.unknownField(m.Key, loc)
				continue
			}
			r.Assign = c.assign(m.Value, floc, jsonata)
		case m.Key == "Output":
			if !top || !jsonata {
				c.unknownField(m.Key, loc)
				continue
			}
			r.Output, r.HasOutput = m.Value, true
		case m.Key == "Condition":
			if !jsonata {
				c.schema(loc, "The field 'Condition' is not supported when QueryLanguage is JSONPath")
				continue
			}
			if s, ok := m.Value.(string); ok {
				r.Condition = s
			} else {
				r.Condition = jsonv.String(m.Value)
			}
			ops++
		case m.Key == "Variable":
			if jsonata {
				c.schema(loc, "The field 'Variable' is not supported when QueryLanguage is JSONata")
				continue
			}
			r.Variable = c.path(m.Value, floc, m.Key)
		case m.Key == "And" || m.Key == "Or":
			ops++
			arr, ok := m.Value.([]any)
			if !ok || len(arr) == 0 {
				c.schema(floc, "The field '%s' must contain at least one rule", m.Key)
				continue
			}
			for i, e := range arr {
				sub := c.rule(e, fmt.Sprintf("%s[%d]", floc, i), false, jsonata)
				if sub == nil {
					continue
				}
				if m.Key == "And" {
					r.And = append(r.And, sub)
				} else {
					r.Or = append(r.Or, sub)
				}
			}
			r.Operator = m.Key
		case m.Key == "Not":
			ops++
			r.Not = c.rule(m.Value, floc, false, jsonata)
			r.Operator = "Not"
		case IsComparison(m.Key):
			ops++
			r.Operator = m.Key
			if strings.HasSuffix(m.Key, "Path") {
				r.ValuePath = c.path(m.Value, floc, m.Key)
				continue
			}
			switch comparisons[m.Key] {
			case "string":
				if _, ok := m.Value.(string); !ok {
					c.schema(floc, "Expected value of type String")
				}
			case "number":
				if _, ok := m.Value.(jsonv.Number); !ok {
					c.schema(floc, "Expected value of type Number")
				}
			case "boolean":
				if _, ok := m.Value.(bool); !ok {
					c.schema(floc, "Expected value of type Boolean")
				}
			case "timestamp":
				s, _ := m.Value.(string)
				if _, ok := ParseTimestamp(s); !ok {
					c.schema(floc, "String does not match RFC3339 timestamp")
				}
			}
			r.Value = m.Value
		default:
			c.unknownField(m.Key, loc)
		}
	}
	if ops != 1 {
		c.schema(loc, "A choice rule must have exactly one comparison operator, 'And', 'Or', 'Not' or 'Condition'")
	}
	if top && r.Next == "" {
		c.schema(loc, "These fields are required: [Next]")
	}
	if !jsonata && IsComparison(r.Operator) && r.Variable == nil {
		c.schema(loc, "These fields are required: [Variable]")
	}
	return r
}

func (c *checker) resource(res, loc string) {
	r, err := ParseResource(res)
	if err != nil {
		c.schema(loc, "The resource provided %s is not recognized. The value is not a valid resource ARN, or the resource is not available in this region.", res)
		return
	}
	if c.opts.Type == Express {
		switch {
		case r.Kind == ResourceActivity:
			c.schema(loc, "Express state machine does not support Activity ARN")
		case r.Pattern == PatternSync:
			c.schema(loc, "Express state machine does not support '.sync' service integration")
		case r.Pattern == PatternCallback:
			c.schema(loc, "Express state machine does not support '.waitForTaskToken' service integration ")
		}
	}
}

// IntValue converts a JSON value into an integer the way Step Functions
// reads …Path fields: numbers with an integral value and numeric strings.
func IntValue(v any) (int64, bool) {
	switch x := v.(type) {
	case jsonv.Number:
		return x.Int64()
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// FloatValue converts a JSON number or numeric string to a float64.
func FloatValue(v any) (float64, bool) {
	switch x := v.(type) {
	case jsonv.Number:
		return x.Float64(), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}
