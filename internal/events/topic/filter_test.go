package topic

import (
	"errors"
	"strings"
	"testing"
)

// docMessage is the example message of AWS's filter policy documentation.
var docMessage = []Attribute{
	{Name: "customer_interests", DataType: "String.Array", StringValue: `["soccer", "rugby", "hockey"]`},
	{Name: "store", DataType: "String", StringValue: "example_corp"},
	{Name: "event", DataType: "String", StringValue: "order_placed"},
	{Name: "price_usd", DataType: "Number", StringValue: "210.75"},
}

func str(name, v string) Attribute { return Attribute{Name: name, DataType: "String", StringValue: v} }
func num(name, v string) Attribute { return Attribute{Name: name, DataType: "Number", StringValue: v} }
func arr(name, v string) Attribute {
	return Attribute{Name: name, DataType: "String.Array", StringValue: v}
}
func bin(name string) Attribute {
	return Attribute{Name: name, DataType: "Binary", BinaryValue: []byte{1}}
}
func attrs(a ...Attribute) []Attribute { return a }

func TestMatchAttributes(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		attrs  []Attribute
		want   bool
	}{
		{"doc accepts", `{"store":["example_corp"],"event":[{"anything-but":"order_cancelled"}],"customer_interests":["rugby","football","baseball"],"price_usd":[{"numeric":[">=",100]}]}`, docMessage, true},
		{"doc rejects: absent key", `{"store":["example_corp"],"event":["order_cancelled"],"encrypted":[false],"customer_interests":["basketball","baseball"]}`, docMessage, false},
		{"empty policy", `{}`, nil, true},
		{"exact string", `{"store":["a","b"]}`, attrs(str("store", "b")), true},
		{"exact string is case-sensitive", `{"store":["a"]}`, attrs(str("store", "A")), false},
		{"string array element", `{"c":["rugby"]}`, attrs(arr("c", `["soccer","rugby"]`)), true},
		{"string array no element", `{"c":["tennis"]}`, attrs(arr("c", `["soccer","rugby"]`)), false},
		{"string array numbers", `{"c":[{"numeric":[">",10]}]}`, attrs(arr("c", `[1, 20]`)), true},
		{"string array bool", `{"c":[true]}`, attrs(arr("c", `[false, true]`)), true},
		{"string array null", `{"c":[null]}`, attrs(arr("c", `["x", null]`)), true},
		{"prefix", `{"c":[{"prefix":"bas"}]}`, attrs(str("c", "basketball")), true},
		{"prefix miss", `{"c":[{"prefix":"bas"}]}`, attrs(str("c", "rugby")), false},
		{"suffix", `{"c":[{"suffix":"ball"}]}`, attrs(str("c", "basketball")), true},
		{"suffix miss", `{"c":[{"suffix":"ball"}]}`, attrs(str("c", "rugby")), false},
		{"equals-ignore-case", `{"c":[{"equals-ignore-case":"RUGBY"}]}`, attrs(str("c", "Rugby")), true},
		{"equals-ignore-case miss", `{"c":[{"equals-ignore-case":"RUGBY"}]}`, attrs(str("c", "rugby7")), false},
		{"anything-but list", `{"c":[{"anything-but":["rugby","tennis"]}]}`, attrs(str("c", "baseball")), true},
		{"anything-but list excluded", `{"c":[{"anything-but":["rugby","tennis"]}]}`, attrs(str("c", "rugby")), false},
		{"anything-but array with another element", `{"c":[{"anything-but":["rugby","tennis"]}]}`, attrs(arr("c", `["rugby","baseball"]`)), true},
		{"anything-but absent", `{"c":[{"anything-but":"x"}]}`, nil, false},
		{"anything-but numbers", `{"p":[{"anything-but":[100,500]}]}`, attrs(num("p", "100.1")), true},
		{"anything-but numbers excluded", `{"p":[{"anything-but":[100,500]}]}`, attrs(num("p", "1e2")), false},
		{"anything-but prefix", `{"c":[{"anything-but":{"prefix":"order-"}}]}`, attrs(str("c", "refund")), true},
		{"anything-but prefix excluded", `{"c":[{"anything-but":{"prefix":"order-"}}]}`, attrs(str("c", "order-1")), false},
		{"anything-but suffix excluded", `{"c":[{"anything-but":{"suffix":".png"}}]}`, attrs(str("c", "a.png")), false},
		{"anything-but equals-ignore-case excluded", `{"c":[{"anything-but":{"equals-ignore-case":"X"}}]}`, attrs(str("c", "x")), false},
		{"numeric equals", `{"p":[{"numeric":["=",301.5]}]}`, attrs(num("p", "3.015e2")), true},
		{"numeric equals miss", `{"p":[{"numeric":["=",301.5]}]}`, attrs(num("p", "301.4")), false},
		{"numeric range top inclusive", `{"p":[{"numeric":[">",0,"<=",150]}]}`, attrs(num("p", "150")), true},
		{"numeric range bottom exclusive", `{"p":[{"numeric":[">",0,"<=",150]}]}`, attrs(num("p", "0")), false},
		{"numeric range above", `{"p":[{"numeric":[">",0,"<=",150]}]}`, attrs(num("p", "150.001")), false},
		{"numeric negative", `{"p":[{"numeric":["<",0]}]}`, attrs(num("p", "-3")), true},
		{"numeric >= bound", `{"p":[{"numeric":[">=",10,"<",20]}]}`, attrs(num("p", "10")), true},
		{"numeric < bound", `{"p":[{"numeric":[">=",10,"<",20]}]}`, attrs(num("p", "20")), false},
		{"exact number", `{"p":[100]}`, attrs(num("p", "100.0")), true},
		{"exact number is not a string", `{"p":[100]}`, attrs(str("p", "100")), false},
		{"string is not a number", `{"p":["100"]}`, attrs(num("p", "100")), false},
		{"numeric on a string", `{"p":[{"numeric":[">",1]}]}`, attrs(str("p", "5")), false},
		{"custom number label", `{"p":[{"numeric":[">",1]}]}`, attrs(Attribute{Name: "p", DataType: "Number.float", StringValue: "5"}), true},
		{"custom string label", `{"p":["x"]}`, attrs(Attribute{Name: "p", DataType: "String.custom", StringValue: "x"}), true},
		{"exists true", `{"store":[{"exists":true}]}`, attrs(str("store", "fans")), true},
		{"exists true absent", `{"store":[{"exists":true}]}`, attrs(str("other", "x")), false},
		{"exists false absent", `{"store":[{"exists":false}]}`, attrs(str("other", "x")), true},
		{"exists false present", `{"store":[{"exists":false}]}`, attrs(str("store", "x")), false},
		{"binary is ignored", `{"b":[{"exists":true}]}`, attrs(bin("b")), false},
		{"cidr v4", `{"ip":[{"cidr":"10.0.0.0/24"}]}`, attrs(str("ip", "10.0.0.255")), true},
		{"cidr v4 miss", `{"ip":[{"cidr":"10.0.0.0/24"}]}`, attrs(str("ip", "10.0.1.0")), false},
		{"cidr unmasked", `{"ip":[{"cidr":"10.0.0.7/24"}]}`, attrs(str("ip", "10.0.0.1")), true},
		{"cidr v6", `{"ip":[{"cidr":"2001:db8::/32"}]}`, attrs(str("ip", "2001:db8:1::1")), true},
		{"cidr not an ip", `{"ip":[{"cidr":"10.0.0.0/24"}]}`, attrs(str("ip", "host")), false},
		{"and", `{"a":["1"],"b":["2"]}`, attrs(str("a", "1"), str("b", "3")), false},
		{"or of values", `{"a":["1","2"]}`, attrs(str("a", "2")), true},
		{"$or first", `{"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs(str("a", "1")), true},
		{"$or second", `{"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs(str("b", "2")), true},
		{"$or neither", `{"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs(str("a", "2")), false},
		{"$or and a key", `{"c":["x"],"$or":[{"a":["1"]},{"b":["2"]}]}`, attrs(str("a", "1"), str("c", "y")), false},
		{"malformed string array", `{"c":[{"exists":true}]}`, attrs(arr("c", `not json`)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy(tt.policy, ScopeAttributes)
			if err != nil {
				t.Fatalf("ParsePolicy(%s) = %v", tt.policy, err)
			}
			if got := p.MatchAttributes(tt.attrs); got != tt.want {
				t.Errorf("ParsePolicy(%s).MatchAttributes(%v) = %v, want %v", tt.policy, tt.attrs, got, tt.want)
			}
		})
	}
}

func TestMatchBody(t *testing.T) {
	const order = `{"store":{"country":"US","city":"Seattle"},"items":[{"sku":"a","qty":1},{"sku":"b","qty":5}],
		"price":210.75,"tags":["new","sale"],"coupon":null,"paid":true,"ip":"192.168.1.7","a.b":"dotted"}`
	tests := []struct {
		name   string
		policy string
		body   string
		want   bool
	}{
		{"nested exact", `{"store":{"country":["US"]}}`, order, true},
		{"nested miss", `{"store":{"country":["CA"]}}`, order, false},
		{"nested two keys", `{"store":{"country":["US"],"city":[{"prefix":"Sea"}]}}`, order, true},
		{"top-level number", `{"price":[{"numeric":[">",200]}]}`, order, true},
		{"array of strings", `{"tags":["sale"]}`, order, true},
		{"array of objects", `{"items":{"sku":["b"]}}`, order, true},
		{"array of objects same element", `{"items":{"sku":["a"],"qty":[1]}}`, order, true},
		{"array of objects across elements", `{"items":{"sku":["a"],"qty":[5]}}`, order, false},
		{"null", `{"coupon":[null]}`, order, true},
		{"null is present", `{"coupon":[{"exists":true}]}`, order, true},
		{"bool", `{"paid":[true]}`, order, true},
		{"bool is not a string", `{"paid":["true"]}`, order, false},
		{"object is not a leaf", `{"store":[{"exists":true}]}`, order, false},
		{"absent nested", `{"shipping":{"method":[{"exists":false}]}}`, order, true},
		{"absent nested must exist", `{"shipping":{"method":["air"]}}`, order, false},
		{"cidr", `{"ip":[{"cidr":"192.168.0.0/16"}]}`, order, true},
		{"dotted key", `{"a.b":["dotted"]}`, order, true},
		{"$or nested", `{"store":{"$or":[{"country":["CA"]},{"city":["Seattle"]}]}}`, order, true},
		{"$or top", `{"$or":[{"price":[1]},{"store":{"city":["Seattle"]}}]}`, order, true},
		{"not json", `{"a":[{"exists":false}]}`, `hello`, false},
		{"json array body", `{"a":[{"exists":false}]}`, `[1,2]`, false},
		{"empty object body", `{"a":[{"exists":false}]}`, `{}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy(tt.policy, ScopeBody)
			if err != nil {
				t.Fatalf("ParsePolicy(%s) = %v", tt.policy, err)
			}
			if got := p.MatchBody(tt.body); got != tt.want {
				t.Errorf("ParsePolicy(%s).MatchBody(%.40s…) = %v, want %v", tt.policy, tt.body, got, tt.want)
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		policy, scope, want string
	}{
		{`{`, ScopeAttributes, "FilterPolicy: failed to parse JSON."},
		{`{"a":["x"]} trailing`, ScopeAttributes, "FilterPolicy: failed to parse JSON."},
		{`["a"]`, ScopeAttributes, "FilterPolicy: Filter policy must be a JSON object"},
		{`{"a":[1],"b":[1],"c":[1],"d":[1],"e":[1],"f":[1]}`, ScopeAttributes, "FilterPolicy: Filter policy can not have more than 5 keys"},
		{`{"a":{"b":["x"]}}`, ScopeAttributes, "Filter policy scope MessageAttributes does not support nested filter policy"},
		{`{"a":[]}`, ScopeAttributes, "FilterPolicy: Empty arrays are not allowed"},
		{`{"a":"x"}`, ScopeAttributes, `FilterPolicy: "a" must be an object or an array`},
		{`{"a":[["x"]]}`, ScopeAttributes, "FilterPolicy: Match value must be String, number, true, false, or null"},
		{`{"a":[{"prefix":"x","suffix":"y"}]}`, ScopeAttributes, "FilterPolicy: Only one key allowed in match expression"},
		{`{"a":[{"prefix":1}]}`, ScopeAttributes, "FilterPolicy: prefix match pattern must be a string"},
		{`{"a":[{"equals-ignore-case":true}]}`, ScopeAttributes, "FilterPolicy: equals-ignore-case match pattern must be a string"},
		{`{"a":[{"wildcard":"x*"}]}`, ScopeAttributes, "FilterPolicy: Unrecognized match type wildcard"},
		{`{"a":[{"exists":"yes"}]}`, ScopeAttributes, "FilterPolicy: exists match pattern must be either true or false."},
		{`{"a":[{"anything-but":{"wildcard":"x"}}]}`, ScopeAttributes, "FilterPolicy: Unsupported anything-but pattern: wildcard"},
		{`{"a":[{"anything-but":[true]}]}`, ScopeAttributes, "FilterPolicy: Inside anything but list, start|null|boolean is not supported."},
		{`{"a":[{"anything-but":[]}]}`, ScopeAttributes, "FilterPolicy: Empty arrays are not allowed"},
		{`{"a":[{"numeric":["!",1]}]}`, ScopeAttributes, "FilterPolicy: Unrecognized numeric range operator: !"},
		{`{"a":[{"numeric":[">","x"]}]}`, ScopeAttributes, "FilterPolicy: Value of > must be numeric"},
		{`{"a":[{"numeric":["="]}]}`, ScopeAttributes, "FilterPolicy: Value of equals must be numeric"},
		{`{"a":[{"numeric":["<",5,">",1]}]}`, ScopeAttributes, "FilterPolicy: Too many elements in numeric expression"},
		{`{"a":[{"numeric":[">",5,"<",1]}]}`, ScopeAttributes, "FilterPolicy: Bottom must be less than top"},
		{`{"a":[{"numeric":[">",1,"=",5]}]}`, ScopeAttributes, "FilterPolicy: Bad numeric range operator: ="},
		{`{"a":[{"numeric":[">",1,"<",5,"<",6]}]}`, ScopeAttributes, "FilterPolicy: Too many terms in numeric range expression"},
		{`{"a":[{"numeric":[1]}]}`, ScopeAttributes, "FilterPolicy: Invalid member in numeric match: 1"},
		{`{"a":[{"cidr":"10.0.0.0"}]}`, ScopeAttributes, "FilterPolicy: Malformed CIDR, one '/' required"},
		{`{"a":[{"cidr":"10.0.0.0/x"}]}`, ScopeAttributes, "FilterPolicy: Malformed CIDR, mask bits must be an integer"},
		{`{"a":[{"cidr":"300.0.0.0/8"}]}`, ScopeAttributes, "FilterPolicy: Nonstandard IP address: 300.0.0.0"},
		{`{"a":[1,2,3,4,5,6,7,8,9,10],"b":[1,2,3,4,5,6,7,8,9,10],"c":[1,2]}`, ScopeAttributes, "FilterPolicy: Filter policy is too complex"},
		// Nested keys count their depth: 10 × 2 (depth 2) × 8 > 150.
		{`{"a":{"b":[1,2,3,4,5,6,7,8,9,10]},"c":[1,2,3,4,5,6,7,8]}`, ScopeBody, "FilterPolicy: Filter policy is too complex"},
		{`{"$or":[{"a":["1"]}]}`, ScopeAttributes, "FilterPolicy: $or must have at least two alternatives"},
		{`{"$or":["a","b"]}`, ScopeAttributes, "FilterPolicy: $or must be an array of non-empty objects"},
	}
	for _, tt := range tests {
		_, err := ParsePolicy(tt.policy, tt.scope)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParsePolicy(%s, %s) = %v, want %q", tt.policy, tt.scope, err, tt.want)
		}
	}
	// Within the limit: 10 × 3 × 5 = 150.
	if _, err := ParsePolicy(`{"a":[1,2,3,4,5,6,7,8,9,10],"b":[1,2,3],"c":[1,2,3,4,5]}`, ScopeAttributes); err != nil {
		t.Errorf("150 combinations: %v", err)
	}
	if p, err := ParsePolicy(" ", ScopeAttributes); p != nil || err != nil {
		t.Errorf("ParsePolicy(blank) = %v, %v; want nil, nil", p, err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	seeds := []string{
		`{"store":["example_corp"],"event":[{"anything-but":"order_cancelled"}],"price_usd":[{"numeric":[">=",100]}]}`,
		`{"a":{"b":[{"prefix":"x"},{"suffix":"y"},{"equals-ignore-case":"Z"}]},"$or":[{"c":[1]},{"d":[null,true]}]}`,
		`{"ip":[{"cidr":"10.0.0.0/8"}],"n":[{"numeric":[">",0,"<=",5]}],"e":[{"exists":false}]}`,
		`{"x":[{"anything-but":{"prefix":"a"}},{"anything-but":[1,2]}]}`,
	}
	for _, s := range seeds {
		f.Add(s, `{"store":"example_corp","a":{"b":"xy"},"c":[1,{"d":null}],"ip":"10.1.2.3","n":3}`)
	}
	f.Fuzz(func(t *testing.T, policy, body string) {
		for _, scope := range []string{ScopeAttributes, ScopeBody} {
			p, err := ParsePolicy(policy, scope)
			if err != nil {
				if !errors.As(err, new(*policyError)) {
					t.Fatalf("ParsePolicy(%q) = %T %v, want a policy error", policy, err, err)
				}
				continue
			}
			p.MatchBody(body)
			p.MatchAttributes([]Attribute{str("store", body), num("n", "3"), arr("c", body), arr("d", `[1,"x",null]`)})
			if strings.TrimSpace(policy) == "" && p != nil {
				t.Fatalf("ParsePolicy(blank) = %v", p)
			}
		}
	})
}
