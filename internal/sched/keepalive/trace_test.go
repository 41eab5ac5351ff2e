package keepalive

import (
	"strings"
	"testing"
	"time"
)

const header = "HashOwner,HashApp,HashFunction,Trigger,minute_1,minute_2,minute_3\n"

func TestParseInvocations(t *testing.T) {
	tr, err := ParseInvocations(strings.NewReader(header + "o,a,f1,http,1,0,3\r\no,a,f2,timer,0,0,0\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Minutes != 3 || len(tr.Functions) != 2 {
		t.Fatalf("ParseInvocations = %d minutes, %d functions; want 3, 2", tr.Minutes, len(tr.Functions))
	}
	f := tr.Functions[0]
	if f.Name != "f1" || f.App != "a" || f.Owner != "o" || f.Counts[0] != 1 || f.Counts[2] != 3 {
		t.Errorf("function 0 = %+v, want f1 of a of o with counts 1,0,3", f)
	}
	if n := tr.Invocations(); n != 4 {
		t.Errorf("Invocations() = %d, want 4", n)
	}

	for _, tt := range []struct{ name, in string }{
		{"empty", ""},
		{"no function column", "HashOwner,HashApp,minute_1\no,a,1\n"},
		{"no minutes", "HashOwner,HashApp,HashFunction\no,a,f\n"},
		{"minutes out of order", "HashOwner,HashApp,HashFunction,minute_2,minute_1\n"},
		{"column after the minutes", "HashOwner,HashApp,HashFunction,minute_1,Trigger\n"},
		{"short row", header + "o,a,f,http,1,2\n"},
		{"negative count", header + "o,a,f,http,1,-2,3\n"},
		{"huge count", header + "o,a,f,http,1,99999999999,3\n"},
		{"repeated function", header + "o,a,f,http,1,2,3\no,a,f,http,1,2,3\n"},
		{"empty function", header + "o,a,,http,1,2,3\n"},
	} {
		if _, err := ParseInvocations(strings.NewReader(tt.in)); err == nil {
			t.Errorf("%s: ParseInvocations succeeded, want an error", tt.name)
		}
	}
}

func TestParseDurations(t *testing.T) {
	tr, err := ParseInvocations(strings.NewReader(header + "o,a,f1,http,1,0,3\no,a,f2,timer,0,0,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := "HashOwner,HashApp,HashFunction,Average,Count\no,a,f1,1500.5,9\no,other,f2,10,1\no,a,f3,10,1\n"
	n, err := ParseDurations(tr, strings.NewReader(in))
	if err != nil || n != 1 {
		t.Fatalf("ParseDurations = %d, %v; want 1, nil", n, err)
	}
	if d := tr.Functions[0].Duration; d != 1500500*time.Microsecond {
		t.Errorf("f1's Duration = %v, want 1.5005s", d)
	}
	if d := tr.Functions[1].Duration; d != 0 {
		t.Errorf("f2's Duration = %v, want 0 (another app's f2)", d)
	}
	for _, bad := range []string{"", "HashOwner,HashApp,HashFunction\n", "HashOwner,HashApp,HashFunction,Average\no,a,f1,-1\n", "HashOwner,HashApp,HashFunction,Average\no,a,f1\n"} {
		if _, err := ParseDurations(tr, strings.NewReader(bad)); err == nil {
			t.Errorf("ParseDurations(%q) succeeded, want an error", bad)
		}
	}
}

func FuzzParseInvocations(f *testing.F) {
	f.Add(header + "o,a,f1,http,1,0,3\no,a,f2,timer,0,0,0\n")
	f.Add("HashFunction,HashApp,HashOwner,minute_1\r\nf,a,o,7\r\n")
	f.Add(header + "o,a,f,http,1,2\n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := ParseInvocations(strings.NewReader(in))
		if err != nil {
			return
		}
		if tr.Minutes <= 0 {
			t.Fatalf("parsed a trace of %d minutes", tr.Minutes)
		}
		names := map[string]bool{}
		for _, fn := range tr.Functions {
			if len(fn.Counts) != tr.Minutes || fn.Name == "" || names[fn.Name] {
				t.Fatalf("parsed function %q with %d counts (trace of %d minutes), seen %v", fn.Name, len(fn.Counts), tr.Minutes, names[fn.Name])
			}
			names[fn.Name] = true
			for _, c := range fn.Counts {
				if c > maxCount {
					t.Fatalf("count %d > %d", c, maxCount)
				}
			}
		}
		Replay(tr, NewAdaptive(AdaptiveConfig{}), Model{Duration: time.Second}, 1) // must not panic
	})
}
