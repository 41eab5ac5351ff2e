// Package jsonv is the JSON value model of the workflow engine.
//
// A value is one of: nil (null), bool, string, Number, []any (array) or
// *Object. Objects keep their members in insertion order, because Step
// Functions renders objects in that order (States.JsonToString,
// States.Format, history events), and numbers keep their literal text so
// that 1.50 or 10000000000000000000001 survive a round trip.
//
// Values are immutable once built: functions that "modify" a value (Object.With,
// SetPath in jsonpath) return a copy that shares the unchanged parts. That is
// what lets a state hand its output to the next one, to history events and to
// snapshots without copying, and lets several goroutines read a value at once.
// Only the builder of a fresh Object or slice may mutate it, before publishing it.
package jsonv

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Number is a JSON number, kept as its literal text.
type Number string

// Float64 returns n as a float64 (±Inf when out of range, 0 if malformed).
func (n Number) Float64() float64 {
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}

// Int64 returns n as an int64 when it is an integral value in range.
func (n Number) Int64() (int64, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// IsInteger reports whether n's literal has no fraction or exponent part
// (how Jackson decides between an integer and a floating-point node).
func (n Number) IsInteger() bool {
	return !strings.ContainsAny(string(n), ".eE")
}

// Int returns the Number for i.
func Int(i int64) Number { return Number(strconv.FormatInt(i, 10)) }

// Float returns the Number for f, rendered like Java's Double.toString for
// the common cases (integral values keep a ".0").
func Float(f float64) Number {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return Number("0")
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e7 {
		return Number(strconv.FormatFloat(f, 'f', 1, 64))
	}
	return Number(strconv.FormatFloat(f, 'g', -1, 64))
}

// Member is one key-value pair of an Object.
type Member struct {
	Key   string
	Value any
}

// indexThreshold is the member count from which an Object keeps a key index.
const indexThreshold = 12

// Object is a JSON object that keeps insertion order. The zero value is an
// empty object. Duplicate keys are not kept: setting an existing key
// replaces its value in place (Jackson's behaviour when parsing).
type Object struct {
	members []Member
	index   map[string]int // built once len(members) >= indexThreshold
}

// NewObject returns an empty object with room for n members.
func NewObject(n int) *Object { return &Object{members: make([]Member, 0, n)} }

// Len returns the number of members.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.members)
}

// Members returns the members in order. The slice must not be modified.
func (o *Object) Members() []Member {
	if o == nil {
		return nil
	}
	return o.members
}

// Get returns the value of key.
func (o *Object) Get(key string) (any, bool) {
	if o == nil {
		return nil, false
	}
	if o.index != nil {
		i, ok := o.index[key]
		if !ok {
			return nil, false
		}
		return o.members[i].Value, true
	}
	for i := range o.members {
		if o.members[i].Key == key {
			return o.members[i].Value, true
		}
	}
	return nil, false
}

// Set sets key to v, appending it if new. Only the builder of o may call Set.
func (o *Object) Set(key string, v any) {
	if o.index != nil {
		if i, ok := o.index[key]; ok {
			o.members[i].Value = v
			return
		}
	} else {
		for i := range o.members {
			if o.members[i].Key == key {
				o.members[i].Value = v
				return
			}
		}
	}
	o.members = append(o.members, Member{key, v})
	if o.index != nil {
		o.index[key] = len(o.members) - 1
	} else if len(o.members) >= indexThreshold {
		o.index = make(map[string]int, len(o.members)*2)
		for i, m := range o.members {
			o.index[m.Key] = i
		}
	}
}

// With returns a copy of o with key set to v.
func (o *Object) With(key string, v any) *Object {
	c := NewObject(o.Len() + 1)
	for _, m := range o.Members() {
		c.Set(m.Key, m.Value)
	}
	c.Set(key, v)
	return c
}

// Kind names a value's JSON type.
type Kind uint8

// The JSON types.
const (
	KindInvalid Kind = iota
	KindNull
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

// KindOf returns v's JSON type (KindInvalid for a Go value outside the model).
func KindOf(v any) Kind {
	switch v.(type) {
	case nil:
		return KindNull
	case bool:
		return KindBool
	case Number:
		return KindNumber
	case string:
		return KindString
	case []any:
		return KindArray
	case *Object:
		return KindObject
	}
	return KindInvalid
}

// String names k as JSON Schema does ("object", "array", ...).
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBool:
		return "boolean"
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindArray:
		return "array"
	case KindObject:
		return "object"
	}
	return "invalid"
}

// Equal reports whether a and b are the same JSON value. Numbers compare by
// value (1 equals 1.0); object member order does not matter.
func Equal(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case Number:
		bn, ok := b.(Number)
		return ok && CompareNumbers(a, bn) == 0
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !Equal(a[i], ba[i]) {
				return false
			}
		}
		return true
	case *Object:
		bo, ok := b.(*Object)
		if !ok || a.Len() != bo.Len() {
			return false
		}
		for _, m := range a.Members() {
			v, ok := bo.Get(m.Key)
			if !ok || !Equal(m.Value, v) {
				return false
			}
		}
		return true
	}
	return false
}

// CompareNumbers compares two numbers by value, exactly when both are
// integers and otherwise as float64.
func CompareNumbers(a, b Number) int {
	if a == b {
		return 0
	}
	if a.IsInteger() && b.IsInteger() {
		ai, aok := new(big.Int).SetString(string(a), 10)
		bi, bok := new(big.Int).SetString(string(b), 10)
		if aok && bok {
			return ai.Cmp(bi)
		}
	}
	af, bf := a.Float64(), b.Float64()
	switch {
	case af < bf:
		return -1
	case af > bf:
		return 1
	}
	return 0
}
