package jsonpath

import (
	"errors"
	"strings"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

func mustJSON(t testing.TB, s string) any {
	t.Helper()
	v, err := jsonv.ParseString(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const doc = `{"store":{"book":[{"title":"A","price":8,"tags":["x"]},{"title":"B","price":12},{"title":"C","price":20,"isbn":"1"}]},
	"users":[{"year":1997,"status":0},{"year":1998,"status":1}], "weird key":{"'q'":1}, "n":null, "s":"str"}`

func TestEval(t *testing.T) {
	root := mustJSON(t, doc)
	tests := []struct{ path, want, err string }{
		{"$", "", ""},
		{"$.store.book[0].title", `"A"`, ""},
		{"$['store']['book'][-1].price", `20`, ""},
		{"$.store.book[*].title", `["A","B","C"]`, ""},
		{"$.store.book[1:].title", `["B","C"]`, ""},
		{"$.store.book[:2].price", `[8,12]`, ""},
		{"$..price", `[8,12,20]`, ""},
		{"$.store.book[?(@.price > 10)].title", `["B","C"]`, ""},
		{"$.store.book[?(@.isbn)].title", `["C"]`, ""},
		{"$.store.book[?(@.title == 'A' || @.price >= 20)].title", `["A","C"]`, ""},
		{"$.store.book[?(@.title =~ /[AB]/)].price", `[8,12]`, ""},
		{"$.users[?(@.status == 0)]", `[{"year":1997,"status":0}]`, ""},
		{"$.store.book.length()", `3`, ""},
		{"$['weird key']['\\'q\\'']", `1`, ""},
		{"$.n", `null`, ""},
		{"$.missing[*]", `[]`, ""},
		{"$.a.b[1:5].c", `[]`, ""},
		{"$.missing", "", "Invalid path '$.missing' : No results for path: $['missing']"},
		{"$.no.such.path", "", "Invalid path '$.no.such.path' : Missing property in path $['no']"},
		{"$.store.book[9]", "", "Invalid path '$.store.book[9]' : No results for path: $['store']['book'][9]"},
	}
	for _, tt := range tests {
		p, err := Parse(tt.path)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.path, err)
			continue
		}
		got, err := p.Eval(root)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Eval(%q) error = %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Eval(%q): %v", tt.path, err)
			continue
		}
		want := root
		if tt.want != "" {
			want = mustJSON(t, tt.want)
		}
		if !jsonv.Equal(got, want) {
			t.Errorf("Eval(%q) = %s, want %s", tt.path, jsonv.String(got), tt.want)
		}
	}
}

func TestRoots(t *testing.T) {
	for src, want := range map[string]Root{"$": RootInput, "$.a": RootInput, "$$.Execution.Id": RootContext, "$var.x": RootVariable, "$var": RootVariable, "$[0]": RootInput} {
		p, err := Parse(src)
		if err != nil || p.Root() != want {
			t.Errorf("Parse(%q) = %v, %v", src, p, err)
		}
	}
	for _, bad := range []string{"", "a", "$.", "$..", "$[", "$['a'", "$[?(@.a", "$.a()", "$[1:2:3]"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestSet(t *testing.T) {
	in := mustJSON(t, `{"a":{"b":1},"l":[1,2]}`)
	tests := []struct{ path, want, err string }{
		{"$.a.c", `{"a":{"b":1,"c":"v"},"l":[1,2]}`, ""},
		{"$.x.y.z", `{"a":{"b":1},"l":[1,2],"x":{"y":{"z":"v"}}}`, ""},
		{"$.l[1]", `{"a":{"b":1},"l":[1,"v"]}`, ""},
		{"$.a.b.c", "", "not an object"},
		{"$.l[5]", "", "out of bounds"},
	}
	for _, tt := range tests {
		got, err := MustParse(tt.path).Set(in, "v")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Set(%s) error = %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || !jsonv.Equal(got, mustJSON(t, tt.want)) {
			t.Errorf("Set(%s) = %s, %v; want %s", tt.path, jsonv.String(got), err, tt.want)
		}
	}
	if jsonv.String(in) != `{"a":{"b":1},"l":[1,2]}` {
		t.Errorf("Set modified its input: %s", jsonv.String(in))
	}
}

type vars map[string]any

func (v vars) Lookup(n string) (any, bool) { x, ok := v[n]; return x, ok }

type ctxObj struct{ v any }

func (c ctxObj) ContextObject() any { return c.v }

func TestIntrinsics(t *testing.T) {
	scope := &Scope{
		Input:   mustJSON(t, `{"obj":{"Arg1":1,"Arg2":[]},"arr":[1,2,2,3,{"a":1},{"a":1}],"s":"a,b;;c","n":1.5,"str":"{\"k\":[1]}"}`),
		Context: ctxObj{mustJSON(t, `{"StateMachine":{"Id":"arn","Name":"sm-1"}}`)},
		Vars:    vars{"v": jsonv.Int(41)},
	}
	tests := []struct{ expr, want, err string }{
		{`States.Format('x={} y={}', $.obj, $$.StateMachine)`, `"x={Arg1=1, Arg2=[]} y={Id=arn, Name=sm-1}"`, ""},
		{`States.Format('\{\}{}\\', null)`, `"{}null\\"`, ""},
		{`States.Format('{}', 'a', 'b')`, "", "does not match"},
		{`States.StringToJson($.str)`, `{"k":[1]}`, ""},
		{`States.StringToJson(' ')`, `null`, ""},
		{`States.JsonToString($.obj)`, `"{\"Arg1\":1,\"Arg2\":[]}"`, ""},
		{`States.Array()`, `[]`, ""},
		{`States.ArrayPartition($.arr, 4)`, `[[1,2,2,3],[{"a":1},{"a":1}]]`, ""},
		{`States.ArrayPartition($.arr, 0)`, "", "greater than 0"},
		{`States.ArrayContains($.arr, $.obj)`, `false`, ""},
		{`States.ArrayContains($.arr, States.StringToJson('{"a":1}'))`, `true`, ""},
		{`States.ArrayRange(0, 9, 3)`, `[0,3,6,9]`, ""},
		{`States.ArrayRange(5, 1, -2)`, `[5,3,1]`, ""},
		{`States.ArrayRange(0, 5000, 1)`, "", "at most 1000"},
		{`States.ArrayGetItem($.arr, 3)`, `3`, ""},
		{`States.ArrayGetItem($.arr, 30)`, "", "out of bounds"},
		{`States.ArrayLength($.arr)`, `6`, ""},
		{`States.ArrayUnique($.arr)`, `[1,2,3,{"a":1}]`, ""},
		{`States.Base64Encode('Data to encode')`, `"RGF0YSB0byBlbmNvZGU="`, ""},
		{`States.Base64Decode('RGF0YSB0byBlbmNvZGU=')`, `"Data to encode"`, ""},
		{`States.Hash('input data', 'SHA-1')`, `"aaff4a450a104cd177d28d18d74485e8cae074b7"`, ""},
		{`States.Hash('x', 'SHA-3')`, "", "not supported"},
		{`States.JsonMerge($.obj, States.StringToJson('{"Arg2":2}'), false)`, `{"Arg1":1,"Arg2":2}`, ""},
		{`States.JsonMerge($.obj, $.obj, true)`, "", "deep"},
		{`States.MathAdd($.n, $v)`, `43`, ""},
		{`States.MathAdd(-2.5, 0)`, `-2`, ""},
		{`States.StringSplit($.s, ',;')`, `["a","b","c"]`, ""},
		{`States.MathRandom(1, 2)`, `1`, ""},
		{`States.MathRandom(0, 1000, 7)`, "", ""},
		{`States.ArrayLength($.missing)`, "", "No results"},
		{`States.ArrayLength($undefined)`, "", "not defined"},
		{`States.ArrayLength($.arr, 1)`, "", "Function States.ArrayLength requires exactly 1 argument(s) but received 2"},
		{`States.JsonMerge($.obj, $.obj)`, "", "Function States.JsonMerge requires exactly 3 argument(s) but received 2"},
		{`States.MathRandom(1)`, "", "Function States.MathRandom requires 2 to 3 arguments but received 1"},
		{`States.UUID(1)`, "", "Function States.UUID requires exactly 0 argument(s) but received 1"},
		{`States.Format()`, "", "Function States.Format requires at least one argument"},
	}
	for _, tt := range tests {
		e, err := ParseExpr(tt.expr)
		if err != nil {
			t.Errorf("ParseExpr(%s): %v", tt.expr, err)
			continue
		}
		got, err := e.Eval(scope)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.expr, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if tt.want != "" && !jsonv.Equal(got, mustJSON(t, tt.want)) {
			t.Errorf("%s = %s, want %s", tt.expr, jsonv.String(got), tt.want)
		}
	}
	// Seeded MathRandom is deterministic.
	e, _ := ParseExpr(`States.MathRandom(0, 1000000, 7)`)
	a, _ := e.Eval(scope)
	b, _ := e.Eval(scope)
	if !jsonv.Equal(a, b) {
		t.Error("seeded MathRandom differs between calls")
	}
	u, _ := ParseExpr(`States.UUID()`)
	if v, _ := u.Eval(scope); len(v.(string)) != 36 || v.(string)[14] != '4' {
		t.Errorf("UUID() = %v", v)
	}
}

func TestIntrinsicSyntax(t *testing.T) {
	for _, bad := range []string{
		`States.Nope()`, `States.Format('a'`, `States.Format('unterminated)`, `States.Format('\"x')`, `States.Array(1,)`,
		`States.Array(foo)`, `States.Format('x') extra`,
		`States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array())))))))))))`,
	} {
		if _, err := ParseExpr(bad); err == nil {
			t.Errorf("ParseExpr(%s) succeeded", bad)
		}
	}
}

func TestTemplate(t *testing.T) {
	tpl, err := CompileTemplate(mustJSON(t, `{"lit":"$.not","nested":{"v.$":"$.a","list":[{"w.$":"$$.x"},2]},"n.$":"$v"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Eval(&Scope{Input: mustJSON(t, `{"a":1}`), Context: ctxObj{mustJSON(t, `{"x":"c"}`)}, Vars: vars{"v": "var"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"lit":"$.not","nested":{"v":1,"list":[{"w":"c"},2]},"n":"var"}`; jsonv.String(got) != want {
		t.Errorf("got %s, want %s", jsonv.String(got), want)
	}
	_, err = tpl.Eval(&Scope{Input: mustJSON(t, `{}`), Vars: vars{"v": 1}})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "v.$" || fe.Expr != "$.a" {
		t.Errorf("missing path error = %v", err)
	}
	if _, err := CompileTemplate(mustJSON(t, `{"a.$":"not a path"}`)); err == nil {
		t.Error("invalid .$ value compiled")
	}
}

func FuzzPath(f *testing.F) {
	for _, s := range []string{"$.a", "$..b[1:3]", "$[?(@.x > 1 && @.y =~ /a.*/)]", "$['a','b'][*]", "$.a.length()", "$$.Map.Item", "$v.x[-1]"} {
		f.Add(s, `{"a":[1,{"b":2,"x":3,"y":"ab"}],"b":{"b":[1,2,3]}}`)
	}
	f.Fuzz(func(t *testing.T, src, input string) {
		p, err := Parse(src)
		if err != nil {
			return
		}
		in, err := jsonv.ParseString(input)
		if err != nil {
			return
		}
		v, err := EvalPath(p, &Scope{Input: in, Context: ctxObj{in}, Vars: vars{"v": in}})
		if err == nil && jsonv.KindOf(v) == jsonv.KindInvalid {
			t.Fatalf("%s returned a value outside the model: %#v", src, v)
		}
		if p.IsReference() && p.Root() == RootInput {
			out, err := p.Set(in, "x")
			if err == nil {
				if got, err := p.Eval(out); err != nil || got != "x" {
					t.Fatalf("Set then Eval(%s) = %v, %v", src, got, err)
				}
			}
		}
	})
}

func FuzzExpr(f *testing.F) {
	for _, s := range []string{
		`States.Format('{} {}', $.a, States.Array(1, 'x'))`, `States.ArrayRange(0, $.n, 2)`, `States.JsonMerge($.o, $.o, false)`,
		`States.StringSplit('a,b', ',')`, `States.MathAdd($.n, -1.5)`, `States.Hash($.s, 'MD5')`, `States.ArrayPartition($.a, 2)`,
		`States.StringToJson($.s)`, `States.Base64Decode($.s)`, `States.ArrayGetItem($.a, $.n)`,
	} {
		f.Add(s, `{"a":[1,2,3],"n":3,"o":{"k":1},"s":"[1]"}`)
	}
	f.Fuzz(func(t *testing.T, src, input string) {
		e, err := ParseExpr(src)
		if err != nil {
			return
		}
		in, err := jsonv.ParseString(input)
		if err != nil {
			return
		}
		v, err := e.Eval(&Scope{Input: in})
		if err == nil && jsonv.KindOf(v) == jsonv.KindInvalid {
			t.Fatalf("%s returned a value outside the model: %#v", src, v)
		}
	})
}

func TestMathRandomRange(t *testing.T) {
	e, _ := ParseExpr(`States.MathRandom(-9e18, 9e18)`)
	if _, err := e.Eval(&Scope{}); err == nil {
		t.Error("huge range accepted")
	}
	e, _ = ParseExpr(`States.MathRandom(12.5, 44.51)`)
	for range 100 {
		v, err := e.Eval(&Scope{})
		n, _ := v.(jsonv.Number).Int64()
		if err != nil || n < 12 || n >= 44 {
			t.Fatalf("MathRandom(12.5, 44.51) = %v, %v", v, err)
		}
	}
}
