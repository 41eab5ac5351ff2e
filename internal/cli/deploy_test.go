package cli

import (
	"maps"
	"os"
	"path/filepath"
	"testing"
)

func TestOverrides(t *testing.T) {
	tests := []struct {
		in   []string
		want map[string]string
	}{
		{[]string{"A=1"}, map[string]string{"A": "1"}},
		{[]string{"A=1", "B=x=y"}, map[string]string{"A": "1", "B": "x=y"}},
		{[]string{"A=1 B=2"}, map[string]string{"A": "1", "B": "2"}},
		{[]string{"Greeting=hello world"}, map[string]string{"Greeting": "hello world"}},
		{[]string{"ParameterKey=A,ParameterValue=1", "B="}, map[string]string{"A": "1", "B": ""}},
	}
	for _, tt := range tests {
		var o overrides
		for _, s := range tt.in {
			if err := o.Set(s); err != nil {
				t.Errorf("Set(%q): %v", s, err)
			}
		}
		if !maps.Equal(o.vals, tt.want) {
			t.Errorf("overrides %q = %v, want %v", tt.in, o.vals, tt.want)
		}
	}
	for _, bad := range []string{"A", "=1", "ParameterKey=A"} {
		var o overrides
		if err := o.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	// --parameter-overrides A=1 B=2: B=2 arrives as a positional argument.
	var tf templateFlags
	if err := tf.takeOverrides([]string{"B=2"}); err == nil {
		t.Error("a positional K=V without --parameter-overrides was accepted")
	}
	tf.overrides.Set("A=1")
	if err := tf.takeOverrides([]string{"B=2"}); err != nil || tf.overrides.vals["B"] != "2" {
		t.Errorf("takeOverrides: %v %v", err, tf.overrides.vals)
	}
	if err := tf.takeOverrides([]string{"stray"}); err == nil {
		t.Error("a stray argument was accepted")
	}
}

func TestStackName(t *testing.T) {
	tests := []struct{ dir, want string }{
		{"/x/app", "app"},
		{"/x/my_app.v2", "my-app-v2"},
		{"/x/2fast", "fast"},
		{"/x/--", ""},
	}
	for _, tt := range tests {
		got, err := stackName(tt.dir)
		if tt.want == "" {
			if err == nil {
				t.Errorf("stackName(%q) = %q, want an error", tt.dir, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("stackName(%q) = %q, %v; want %q", tt.dir, got, err, tt.want)
		}
	}
}

func TestTemplatePath(t *testing.T) {
	dir := t.TempDir()
	if _, err := templatePath(dir); err == nil {
		t.Error("a directory without a template was accepted")
	}
	yml := filepath.Join(dir, "template.yml")
	os.WriteFile(yml, []byte("Resources: {}"), 0o644)
	if got, err := templatePath(dir); err != nil || got != yml {
		t.Errorf("templatePath(dir) = %q, %v; want %q", got, err, yml)
	}
	if _, err := templatePath(filepath.Join(dir, "nope.yaml")); err == nil {
		t.Error("a missing template was accepted")
	}
}
