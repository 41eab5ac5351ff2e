package app

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/secrets"
)

// TestStackRecordsSealed: a stack record (which holds resolved NoEcho
// parameter values) is stored sealed, opens back to the same bytes, does
// not open under another stack's name, and records stored before sealing
// still read.
func TestStackRecordsSealed(t *testing.T) {
	key, err := secrets.LoadKey(secrets.KeySource{File: filepath.Join(t.TempDir(), "k")}, true)
	if err != nil {
		t.Fatal(err)
	}
	record := []byte(`{"plan":{"stack":"app","resources":[{"function":{"environment":{"DB_PASSWORD":"noecho-value-42"}}}]},"deployedAt":"2026-01-01T00:00:00Z"}`)
	stored, err := sealStack(key, "app", record)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte("noecho-value-42")) {
		t.Fatalf("the stored record holds the value in clear: %s", stored)
	}
	got, err := openStack(key, "app", stored)
	if err != nil || !bytes.Equal(got, record) {
		t.Errorf("openStack = %s, %v", got, err)
	}
	if _, err := openStack(key, "other", stored); err == nil {
		t.Error("a record opened under another stack's name")
	}
	if got, err := openStack(key, "app", record); err != nil || !bytes.Equal(got, record) {
		t.Errorf("a record stored before sealing: %s, %v", got, err)
	}
}
