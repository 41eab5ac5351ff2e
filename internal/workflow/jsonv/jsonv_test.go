package jsonv

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"b":1,"a":2}`},
		{` { "a" : [ 1 , 2.50 , -0 , 1e3 ] } `, `{"a":[1,2.50,-0,1e3]}`},
		{`{"a":1,"a":2,"b":3}`, `{"a":2,"b":3}`},
		{`"\u00e9\n\"\\\/\ud83c\udd97"`, `"é\n\"\\/🆗"`},
		{`[true,false,null,{}]`, `[true,false,null,{}]`},
		{`12345678901234567890123`, `12345678901234567890123`},
		{`"\u0001"`, `"\u0001"`},
	}
	for _, tt := range tests {
		v, err := ParseString(tt.in)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		if got := String(v); got != tt.want {
			t.Errorf("String(Parse(%s)) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{``, `{`, `[1,]`, `{"a"}`, `01`, `1.`, `"\x"`, "\"a\nb\"", `nul`, `{} x`, `-`} {
		if _, err := ParseString(in); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

func TestEqualAndSize(t *testing.T) {
	a, _ := ParseString(`{"x":[1,{"y":2.0}],"z":"s"}`)
	b, _ := ParseString(`{"z":"s","x":[1.0,{"y":2}]}`)
	if !Equal(a, b) {
		t.Error("Equal: member order or number form mattered")
	}
	c, _ := ParseString(`{"z":"s","x":[1.0,{"y":3}]}`)
	if Equal(a, c) {
		t.Error("Equal: different values equal")
	}
	for _, s := range []string{`{"a":"x\ny","b":[1,2,null]}`, `"\u0001"`, `[]`} {
		v, _ := ParseString(s)
		n := len(Marshal(v))
		if SizeExceeds(v, n) || !SizeExceeds(v, n-1) {
			t.Errorf("SizeExceeds wrong around %d for %s", n, s)
		}
	}
}

func TestLargeObjectIndex(t *testing.T) {
	o := NewObject(0)
	for i := range 100 {
		o.Set(strings.Repeat("k", i+1), Int(int64(i)))
	}
	o.Set("k", "replaced")
	if v, _ := o.Get("kkkkk"); v != Int(4) {
		t.Errorf("Get = %v", v)
	}
	if v, _ := o.Get("k"); v != "replaced" || o.Len() != 100 || o.Members()[0].Key != "k" {
		t.Errorf("Set on an indexed object broke order or length")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\ud83d\ude00"`, `-1.5e-3`, `[[[]]]`, `{"a":1,"a":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseString(s)
		if json.Valid([]byte(s)) != (err == nil) {
			t.Fatalf("encoding/json and Parse disagree on %q: %v", s, err)
		}
		if err != nil {
			return
		}
		out := Marshal(v)
		w, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if !Equal(v, w) {
			t.Fatalf("round trip changed %q into %q", s, out)
		}
		if !json.Valid(out) {
			t.Fatalf("Marshal produced invalid JSON %q", out)
		}
	})
}
