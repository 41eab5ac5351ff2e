package asl

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// machine checks a set of states: the top level, a branch or a processor.
func (c *checker) machine(m *Machine, o *jsonv.Object, loc, ql string, top bool) {
	startAt, _ := o.Get("StartAt")
	m.StartAt = c.str(startAt, loc+"/StartAt")
	sv, _ := o.Get("States")
	states := c.object(sv, loc+"/States")
	m.States = map[string]*State{}
	if states == nil {
		return
	}
	if !top {
		for _, mem := range o.Members() {
			switch mem.Key {
			case "StartAt", "States", "Comment", "ProcessorConfig", "QueryLanguage":
			default:
				c.unknownField(mem.Key, loc)
			}
		}
	}
	if states.Len() == 0 {
		c.schema(loc+"/States", "The field 'States' must contain at least one state")
	}
	for _, mem := range states.Members() {
		sloc := loc + "/States/" + mem.Key
		if len(mem.Key) > 80 {
			c.schema(sloc, "The state name %q is longer than 80 characters", mem.Key)
		}
		so := c.object(mem.Value, sloc)
		if so == nil {
			continue
		}
		st := c.state(mem.Key, so, sloc, ql)
		if st != nil {
			m.States[mem.Key] = st
			m.Order = append(m.Order, mem.Key)
		}
	}
	if m.StartAt != "" {
		if _, ok := m.States[m.StartAt]; !ok && states.Len() > 0 {
			c.errAt(loc+"/StartAt", CodeMissingTarget, "Missing 'StartAt' target: "+m.StartAt)
		}
	}
	// Transitions stay inside the machine.
	for _, name := range m.Order {
		st := m.States[name]
		sloc := loc + "/States/" + name
		check := func(target, field string) {
			if target == "" {
				return
			}
			if _, ok := m.States[target]; !ok {
				c.errAt(sloc+field, CodeMissingTarget, "Missing 'Next' target: "+target)
			}
		}
		check(st.Next, "/Next")
		check(st.Default, "/Default")
		for i, r := range st.Choices {
			check(r.Next, fmt.Sprintf("/Choices[%d]/Next", i))
		}
		for i, k := range st.Catch {
			check(k.Next, fmt.Sprintf("/Catch[%d]/Next", i))
		}
	}
	if len(c.diags) == 0 {
		c.reachability(m, loc)
	}
}

func (c *checker) reachability(m *Machine, loc string) {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		st, ok := m.States[n]
		if !ok || seen[n] {
			return
		}
		seen[n] = true
		visit(st.Next)
		visit(st.Default)
		for _, r := range st.Choices {
			visit(r.Next)
		}
		for _, k := range st.Catch {
			visit(k.Next)
		}
	}
	visit(m.StartAt)
	for _, n := range m.Order {
		if !seen[n] {
			c.errAt(loc+"/States/"+n, CodeUnreachable, fmt.Sprintf("State %q is not reachable.", n))
		}
	}
}

// fields each state type accepts (beyond Type, Comment, QueryLanguage).
var stateFields = map[string][]string{
	Pass:     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result", "Assign", "Output"},
	Task:     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Retry", "Catch", "Credentials", "Assign", "Arguments", "Output"},
	Choice:   {"InputPath", "OutputPath", "Choices", "Default", "Assign", "Output"},
	Wait:     {"Next", "End", "InputPath", "OutputPath", "Seconds", "Timestamp", "SecondsPath", "TimestampPath", "Assign", "Output"},
	Succeed:  {"InputPath", "OutputPath", "Output"},
	Fail:     {"Error", "Cause", "ErrorPath", "CausePath"},
	Parallel: {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Branches", "Retry", "Catch", "Assign", "Arguments", "Output"},
	Map: {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Iterator", "ItemProcessor", "ItemsPath", "Items", "ItemSelector", "ItemReader", "ItemBatcher", "ResultWriter",
		"MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath", "Label", "Retry", "Catch", "Assign", "Output"},
}

// jsonPathOnly are the fields a JSONata state may not use; jsonataOnly the reverse.
var (
	jsonPathOnly = []string{"InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath", "ItemsPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath", "ToleratedFailureCountPath", "Iterator"}
	jsonataOnly  = []string{"Arguments", "Output", "Items"}
)

func (c *checker) state(name string, o *jsonv.Object, loc, parentQL string) *State {
	st := &State{Name: name, QueryLanguage: parentQL}
	tv, ok := o.Get("Type")
	if !ok {
		c.schema(loc, "These fields are required: [Type]")
		return nil
	}
	st.Type, _ = tv.(string)
	allowed, known := stateFields[st.Type]
	if !known {
		c.schema(loc+"/Type", "The value for the field 'Type' must be one of [Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map]")
		return nil
	}
	if qv, ok := o.Get("QueryLanguage"); ok {
		st.QueryLanguage = c.queryLanguage(qv, loc+"/QueryLanguage")
		if c.topQL == JSONata && st.QueryLanguage == JSONPath {
			c.schema(loc, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine")
		}
	}
	jsonata := st.QueryLanguage == JSONata
	for _, m := range o.Members() {
		switch m.Key {
		case "Type", "Comment", "QueryLanguage":
			continue
		}
		if !slices.Contains(allowed, m.Key) {
			c.unknownField(m.Key, loc)
			continue
		}
		if jsonata && slices.Contains(jsonPathOnly, m.Key) {
			c.schema(loc, "The field '%s' is not supported for state type '%s' when QueryLanguage is JSONata", m.Key, st.Type)
			continue
		}
		if !jsonata && slices.Contains(jsonataOnly, m.Key) {
			c.schema(loc, "The field '%s' is not supported for state type '%s' when QueryLanguage is JSONPath", m.Key, st.Type)
			continue
		}
		c.field(st, m.Key, m.Value, loc+"/"+m.Key, loc, jsonata)
	}
	if cv, ok := o.Get("Comment"); ok {
		st.Comment = c.str(cv, loc+"/Comment")
	}
	_, hasNext := o.Get("Next")
	_, hasEnd := o.Get("End")
	switch st.Type {
	case Choice:
		if len(st.Choices) == 0 {
			if _, ok := o.Get("Choices"); !ok {
				c.schema(loc, "These fields are required: [Choices]")
			}
		}
	case Succeed, Fail:
	default:
		switch {
		case hasNext && hasEnd && st.End:
			c.schema(loc, "Only one of 'Next' or 'End' can be present")
		case !hasNext && !st.End:
			c.schema(loc, "Exactly one of 'Next' or 'End' must be present")
		}
	}
	c.typeSpecific(st, o, loc)
	return st
}

func (c *checker) typeSpecific(st *State, o *jsonv.Object, loc string) {
	switch st.Type {
	case Task:
		if _, ok := o.Get("Resource"); !ok {
			c.schema(loc, "These fields are required: [Resource]")
		}
		if st.TimeoutSeconds > 0 && st.TimeoutSecondsPath != nil {
			c.schema(loc, "Only one of 'TimeoutSeconds' or 'TimeoutSecondsPath' can be present")
		}
		if st.HeartbeatSeconds > 0 && st.HeartbeatSecondsPath != nil {
			c.schema(loc, "Only one of 'HeartbeatSeconds' or 'HeartbeatSecondsPath' can be present")
		}
		if st.HeartbeatSeconds > 0 && st.TimeoutSeconds > 0 && st.HeartbeatSeconds >= st.TimeoutSeconds {
			c.schema(loc+"/HeartbeatSeconds", "The value for the field 'HeartbeatSeconds' must be smaller than the value for the field 'TimeoutSeconds'")
		}
	case Wait:
		n := 0
		for _, f := range []string{"Seconds", "Timestamp", "SecondsPath", "TimestampPath"} {
			if _, ok := o.Get(f); ok {
				n++
			}
		}
		if n != 1 {
			c.schema(loc, "Exactly one of 'Seconds', 'Timestamp', 'SecondsPath' or 'TimestampPath' must be present")
		}
	case Fail:
		if st.HasError && st.ErrorPath != nil {
			c.schema(loc, "Only one of 'Error' or 'ErrorPath' can be present")
		}
		if st.HasCause && st.CausePath != nil {
			c.schema(loc, "Only one of 'Cause' or 'CausePath' can be present")
		}
	case Parallel:
		if _, ok := o.Get("Branches"); !ok {
			c.schema(loc, "These fields are required: [Branches]")
		}
	case Map:
		if st.Processor == nil {
			_, a := o.Get("ItemProcessor")
			_, b := o.Get("Iterator")
			if !a && !b {
				c.schema(loc, "These fields are required: [ItemProcessor]")
			}
		}
		if st.ItemSelector != nil && st.Parameters != nil {
			c.schema(loc, "Only one of 'ItemSelector' or 'Parameters' can be present")
		}
		if st.Parameters != nil {
			st.ItemSelector, st.Parameters = st.Parameters, nil
		}
		if st.ProcessorMode == "" {
			st.ProcessorMode = "INLINE"
		}
		if st.ProcessorMode == "INLINE" && (st.HasItemReader || st.HasResultWriter || st.ItemBatcher != nil) {
			c.schema(loc, "ItemReader, ItemBatcher and ResultWriter are only supported in DISTRIBUTED mode")
		}
	}
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

// ParseTimestamp parses an ASL timestamp: RFC 3339 with an upper-case T and
// a Z or a numeric offset.
func ParseTimestamp(s string) (time.Time, bool) {
	if !rfc3339.MatchString(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func (c *checker) field(st *State, key string, v any, loc, sloc string, jsonata bool) {
	switch key {
	case "Next":
		st.Next = c.str(v, loc)
	case "End":
		st.End = c.boolean(v, loc)
	case "InputPath":
		st.InputPath = c.pathField(v, loc, key, false)
	case "OutputPath":
		st.OutputPath = c.pathField(v, loc, key, false)
	case "ResultPath":
		st.ResultPath = c.pathField(v, loc, key, true)
	case "Parameters":
		st.Parameters = c.template(v, loc, key)
	case "ResultSelector":
		st.ResultSelector = c.template(v, loc, key)
	case "ItemSelector":
		if jsonata {
			return
		}
		st.ItemSelector = c.template(v, loc, key)
	case "Result":
		st.Result, st.HasResult = v, true
	case "Assign":
		st.Assign = c.assign(v, loc, jsonata)
	case "Arguments":
		st.Arguments = v
	case "Output":
		st.Output, st.HasOutput = v, true
	case "Items":
		st.Items = v
	case "Resource":
		st.Resource = c.str(v, loc)
		c.resource(st.Resource, loc)
	case "TimeoutSeconds", "HeartbeatSeconds":
		if jsonata && isJSONataExpr(v) {
			return
		}
		n := c.positiveInt(v, loc, key)
		if n > 99999999 {
			c.schema(loc, "The value for the field '%s' must be smaller than 99999999", key)
		}
		if key == "TimeoutSeconds" {
			st.TimeoutSeconds = n
		} else {
			st.HeartbeatSeconds = n
		}
	case "TimeoutSecondsPath":
		st.TimeoutSecondsPath = c.path(v, loc, key)
	case "HeartbeatSecondsPath":
		st.HeartbeatSecondsPath = c.path(v, loc, key)
	case "Credentials":
		o := c.object(v, loc)
		if o == nil {
			return
		}
		_, a := o.Get("RoleArn")
		_, b := o.Get("RoleArn.$")
		if !a && !b {
			c.schema(loc, "The field 'RoleArn' is required but was missing")
			return
		}
		if !jsonata {
			st.Credentials = c.template(v, loc, key)
		}
	case "Retry":
		arr, ok := v.([]any)
		if !ok {
			c.schema(loc, "Expected value of type Array")
			return
		}
		for i, e := range arr {
			if r := c.retrier(e, fmt.Sprintf("%s[%d]", loc, i), i == len(arr)-1); r != nil {
				st.Retry = append(st.Retry, r)
			}
		}
	case "Catch":
		arr, ok := v.([]any)
		if !ok {
			c.schema(loc, "Expected value of type Array")
			return
		}
		for i, e := range arr {
			if k := c.catcher(e, fmt.Sprintf("%s[%d]", loc, i), i == len(arr)-1, jsonata); k != nil {
				st.Catch = append(st.Catch, k)
			}
		}
	case "Choices":
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			c.schema(loc, "The field 'Choices' must contain at least one rule")
			return
		}
		for i, e := range arr {
			if r := c.rule(e, fmt.Sprintf("%s[%d]", loc, i), true, jsonata); r != nil {
				st.Choices = append(st.Choices, r)
			}
		}
	case "Default":
		st.Default = c.str(v, loc)
	case "Seconds":
		if jsonata && isJSONataExpr(v) {
			st.HasSeconds = true
			return
		}
		st.Seconds = c.nonNegativeInt(v, loc, key)
		st.HasSeconds = true
	case "Timestamp":
		s, _ := v.(string)
		if jsonata && isJSONataExpr(v) {
			st.HasTimestamp = true
			return
		}
		t, ok := ParseTimestamp(s)
		if !ok {
			c.schema(loc, "String does not match RFC3339 timestamp")
			return
		}
		st.Timestamp, st.HasTimestamp = t, true
	case "SecondsPath":
		st.SecondsPath = c.path(v, loc, key)
	case "TimestampPath":
		st.TimestampPath = c.path(v, loc, key)
	case "Error":
		st.Error, st.HasError = c.str(v, loc), true
	case "Cause":
		st.Cause, st.HasCause = c.str(v, loc), true
	case "ErrorPath", "CausePath":
		s, ok := v.(string)
		e, err := jsonpath.ParseExpr(s)
		if !ok || err != nil {
			c.schema(loc, "The value for the field '%s' must be a valid JSONPath or a valid intrinsic function call", key)
			return
		}
		if key == "ErrorPath" {
			st.ErrorPath = e
		} else {
			st.CausePath = e
		}
	case "Branches":
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			c.schema(loc, "The field 'Branches' must contain at least one branch")
			return
		}
		for i, e := range arr {
			bloc := fmt.Sprintf("%s[%d]", loc, i)
			bo := c.object(e, bloc)
			if bo == nil {
				continue
			}
			c.requireMachine(bo, bloc)
			m := &Machine{}
			ql := st.QueryLanguage
			if qv, ok := bo.Get("QueryLanguage"); ok {
				ql = c.queryLanguage(qv, bloc+"/QueryLanguage")
			}
			c.machine(m, bo, bloc, ql, false)
			st.Branches = append(st.Branches, m)
		}
	case "Iterator", "ItemProcessor":
		po := c.object(v, loc)
		if po == nil {
			return
		}
		c.requireMachine(po, loc)
		st.ProcessorMode = "INLINE"
		if pc, ok := po.Get("ProcessorConfig"); ok {
			pco := c.object(pc, loc+"/ProcessorConfig")
			for _, m := range pco.Members() {
				switch m.Key {
				case "Mode":
					st.ProcessorMode = c.str(m.Value, loc+"/ProcessorConfig/Mode")
					if st.ProcessorMode != "INLINE" && st.ProcessorMode != "DISTRIBUTED" {
						c.schema(loc+"/ProcessorConfig/Mode", "The value for the field 'Mode' must be one of [INLINE, DISTRIBUTED]")
					}
				case "ExecutionType":
					st.ExecutionType = c.str(m.Value, loc+"/ProcessorConfig/ExecutionType")
					if st.ExecutionType != Standard && st.ExecutionType != Express {
						c.schema(loc+"/ProcessorConfig/ExecutionType", "The value for the field 'ExecutionType' must be one of [STANDARD, EXPRESS]")
					}
				default:
					c.unknownField(m.Key, loc+"/ProcessorConfig")
				}
			}
		}
		m := &Machine{}
		c.machine(m, po, loc, st.QueryLanguage, false)
		st.Processor = m
	case "ItemsPath":
		st.ItemsPath = c.path(v, loc, key)
	case "ItemReader":
		st.HasItemReader = true
		c.object(v, loc)
	case "ResultWriter":
		st.HasResultWriter = true
		c.object(v, loc)
	case "ItemBatcher":
		o := c.object(v, loc)
		if o == nil {
			return
		}
		b := &ItemBatcher{}
		for _, m := range o.Members() {
			floc := loc + "/" + m.Key
			if jsonata && isJSONataExpr(m.Value) {
				continue
			}
			switch m.Key {
			case "MaxItemsPerBatch":
				b.MaxItemsPerBatch = c.positiveInt(m.Value, floc, m.Key)
			case "MaxItemsPerBatchPath":
				b.MaxItemsPerBatchPath = c.path(m.Value, floc, m.Key)
			case "MaxInputBytesPerBatch":
				b.MaxInputBytesPerBatch = c.positiveInt(m.Value, floc, m.Key)
			case "MaxInputBytesPerBatchPath":
				b.MaxInputBytesPerBatchPath = c.path(m.Value, floc, m.Key)
			case "BatchInput":
				if !jsonata {
					b.BatchInput = c.template(m.Value, floc, m.Key)
				}
			default:
				c.unknownField(m.Key, loc)
			}
		}
		st.ItemBatcher = b
	case "MaxConcurrency":
		if jsonata && isJSONataExpr(v) {
			return
		}
		st.MaxConcurrency = c.nonNegativeInt(v, loc, key)
	case "MaxConcurrencyPath":
		st.MaxConcurrencyPath = c.path(v, loc, key)
	case "ToleratedFailurePercentage":
		if jsonata && isJSONataExpr(v) {
			return
		}
		f, ok := c.number(v, loc)
		if ok && (f < 0 || f > 100) {
			c.schema(loc, "The value for the field 'ToleratedFailurePercentage' must be between 0 and 100")
		}
		st.ToleratedFailurePercentage, st.HasToleratedFailurePercentage = f, true
	case "ToleratedFailurePercentagePath":
		st.ToleratedFailurePercentagePath = c.path(v, loc, key)
	case "ToleratedFailureCount":
		if jsonata && isJSONataExpr(v) {
			return
		}
		st.ToleratedFailureCount = c.nonNegativeInt(v, loc, key)
		st.HasToleratedFailureCount = true
	case "ToleratedFailureCountPath":
		st.ToleratedFailureCountPath = c.path(v, loc, key)
	case "Label":
		st.Label = c.str(v, loc)
	}
}

func (c *checker) requireMachine(o *jsonv.Object, loc string) {
	var missing []string
	if _, ok := o.Get("States"); !ok {
		missing = append(missing, "States")
	}
	if _, ok := o.Get("StartAt"); !ok {
		missing = append(missing, "StartAt")
	}
	if len(missing) > 0 {
		c.schema(loc, "These fields are required: [%s]", strings.Join(missing, ", "))
	}
}
