package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeTrace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("HashOwner,HashApp,HashFunction")
	for m := 1; m <= 120; m++ {
		b.WriteString(",minute_")
		b.WriteString(strconv.Itoa(m))
	}
	b.WriteString("\n")
	for f, period := range []int{5, 15, 60} {
		b.WriteString("o,a,f" + strconv.Itoa(f))
		for m := 0; m < 120; m++ {
			if m%period == 0 {
				b.WriteString(",3")
			} else {
				b.WriteString(",0")
			}
		}
		b.WriteString("\n")
	}
	inv := filepath.Join(dir, "3_inv.csv")
	if err := os.WriteFile(inv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run := "HashOwner,HashApp,HashFunction,Count,Average\no,a,f0,1,2000\no,a,f1,1,250\n"
	if err := os.WriteFile(filepath.Join(dir, "3_run.csv"), []byte(run), 0o644); err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestRun(t *testing.T) {
	inv := writeTrace(t)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"-trace", inv}, []string{"3 functions, 120 minutes, 102 invocations", "average duration", "2 of 3 functions", "fixed 10 min (today)", "hybrid histogram", "adaptive (nimbus)"}},
		{[]string{"-trace", inv, "-duration", "1s", "-spread", "start"}, []string{"every invocation runs 1s", "all arrive at the minute's start"}},
		{[]string{"-trace", inv, "-model", "paper"}, []string{"model: paper", "one environment", "fixed 20 min"}},
	} {
		var out bytes.Buffer
		if err := run(tt.args, &out); err != nil {
			t.Fatalf("run(%q) = %v", tt.args, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("run(%q) output lacks %q:\n%s", tt.args, w, out.String())
			}
		}
	}
}

func TestRunPerFunction(t *testing.T) {
	inv := writeTrace(t)
	csv := filepath.Join(t.TempDir(), "per.csv")
	if err := run([]string{"-trace", inv, "-per-function", csv}, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[1], "f0,72,24,2000,") {
		t.Errorf("per-function CSV = %q, want a header and 3 rows, f0 first", lines)
	}
}

func TestRunErrors(t *testing.T) {
	inv := writeTrace(t)
	for _, args := range [][]string{
		{},
		{"-trace", filepath.Join(t.TempDir(), "missing.csv")},
		{"-trace", inv, "-model", "magic"},
		{"-trace", inv, "-spread", "poisson"},
		{"-trace", inv, "extra"},
	} {
		if err := run(args, new(bytes.Buffer)); err == nil {
			t.Errorf("run(%q) succeeded, want an error", args)
		}
	}
}
