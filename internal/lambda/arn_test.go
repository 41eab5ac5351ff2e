package lambda

import "testing"

func TestParseFunctionRef(t *testing.T) {
	for _, tc := range []struct {
		ref, qualifier string
		name, q        string
		ok             bool
	}{
		{"fn", "", "fn", "", true},
		{"fn", "$LATEST", "fn", "$LATEST", true},
		{"fn:3", "", "fn", "3", true},
		{"fn:prod", "", "fn", "prod", true},
		{"fn:3", "3", "fn", "3", true},
		{"fn:3", "4", "", "", false},
		{"000000000000:function:fn", "", "fn", "", true},
		{"000000000000:function:fn:7", "", "fn", "7", true},
		{"arn:aws:lambda:us-east-1:000000000000:function:fn", "", "fn", "", true},
		{"arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST", "", "fn", "$LATEST", true},
		{"arn:aws:lambda:us-east-1:000000000000:function:fn:1", "", "fn", "1", true},
		{"arn:aws:lambda:us-east-1:000000000000:layer:fn", "", "", "", false},
		{"bad name!", "", "", "", false},
		{"", "", "", "", false},
		{"fn", "bad qualifier!", "", "", false},
		{"a-very-long-function-name-that-goes-on-and-on-and-on-beyond-64-characters", "", "", "", false},
	} {
		name, q, err := ParseFunctionRef(tc.ref, tc.qualifier)
		if (err == nil) != tc.ok || name != tc.name || q != tc.q {
			t.Errorf("ParseFunctionRef(%q, %q) = %q, %q, %v; want %q, %q, ok=%v", tc.ref, tc.qualifier, name, q, err, tc.name, tc.q, tc.ok)
		}
		if err != nil {
			if e, ok := AsError(err); !ok || e.Status != 400 {
				t.Errorf("ParseFunctionRef(%q) error %v is not a 400 lambda.Error", tc.ref, err)
			}
		}
	}
}

func FuzzParseFunctionRef(f *testing.F) {
	f.Add("arn:aws:lambda:us-east-1:000000000000:function:fn:1", "")
	f.Add("fn:x", "y")
	f.Fuzz(func(t *testing.T, ref, q string) {
		name, _, err := ParseFunctionRef(ref, q)
		if err == nil && !ValidName(name) {
			t.Fatalf("accepted invalid name %q from %q", name, ref)
		}
	})
}

func TestRequestID(t *testing.T) {
	id := NewRequestID()
	if len(id) != 36 || id[14] != '4' || id[8] != '-' {
		t.Errorf("NewRequestID() = %s", id)
	}
	if NewRequestID() == id {
		t.Error("two equal request ids")
	}
}

func TestFormatUUID(t *testing.T) {
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	if got, want := FormatUUID(b, 8), "ffffffff-ffff-8fff-bfff-ffffffffffff"; got != want {
		t.Errorf("FormatUUID(ff…, 8) = %s, want %s", got, want)
	}
	b = [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	if got, want := FormatUUID(b, 4), "01234567-89ab-4def-8123-456789abcdef"; got != want {
		t.Errorf("FormatUUID(0123…, 4) = %s, want %s", got, want)
	}
}
