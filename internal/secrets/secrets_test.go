package secrets

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

type env struct {
	dir string
	bb  *backbone.Backbone
}

func start(t testing.TB, dir string) *env {
	t.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bb.Close)
	return &env{dir: dir, bb: bb}
}

func (e *env) open(t *testing.T, src KeySource) (*Store, error) {
	t.Helper()
	kv, err := e.bb.KeyValue(t.Context(), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	return Open(t.Context(), kv, src)
}

func newStore(t *testing.T) *Store {
	t.Helper()
	e := start(t, t.TempDir())
	s, err := e.open(t, KeySource{File: filepath.Join(e.dir, "secrets.key")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func str(s string) *string { return &s }

func code(err error) string {
	if e, ok := lambda.AsError(err); ok {
		return e.Code
	}
	if err != nil {
		return "internal: " + err.Error()
	}
	return ""
}

func TestKeyFileGeneratedAndChecked(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secrets.key")
	e := start(t, dir)
	s, err := e.open(t, KeySource{File: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Key().Generated {
		t.Error("the key was not reported as generated")
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != KeySize {
		t.Errorf("key file mode %v size %d, want 0600 and %d bytes", st.Mode().Perm(), st.Size(), KeySize)
	}
	// The same file opens again.
	if _, err := e.open(t, KeySource{File: keyFile}); err != nil {
		t.Fatalf("reopen with the same key: %v", err)
	}
	// Another key is refused.
	other := make([]byte, KeySize)
	if _, err := e.open(t, KeySource{Raw: other}); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "NIMBUS_SECRETS_KEY") {
		t.Errorf("open with another key: %v, want ErrWrongKey naming the source", err)
	}
	// A missing key file is not regenerated once values are sealed.
	if _, err := e.open(t, KeySource{File: filepath.Join(dir, "gone.key")}); !errors.Is(err, ErrWrongKey) {
		t.Errorf("open with a missing key file: %v, want ErrWrongKey", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a key file was generated although the bucket holds sealed values")
	}
}

func TestDecodeKey(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, KeySize)
	for _, in := range []string{"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=", "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc\n"} {
		got, err := DecodeKey(in)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("DecodeKey(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "not base64!", "AAAA"} {
		if _, err := DecodeKey(in); err == nil {
			t.Errorf("DecodeKey(%q) accepted", in)
		}
	}
}

func TestSealBindsContext(t *testing.T) {
	k, err := newKey(make([]byte, KeySize), false)
	if err != nil {
		t.Fatal(err)
	}
	a, b := k.Seal([]byte("v"), "x"), k.Seal([]byte("v"), "x")
	if bytes.Equal(a, b) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if p, err := k.Open(a, "x"); err != nil || string(p) != "v" {
		t.Errorf("Open = %q, %v", p, err)
	}
	if _, err := k.Open(a, "y"); err == nil {
		t.Error("a value opened under another context")
	}
	a[len(a)-1] ^= 1
	if _, err := k.Open(a, "x"); err == nil {
		t.Error("a tampered value opened")
	}
}

func TestLifecycle(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	sec, err := s.Create(ctx, CreateInput{Name: "db/password", Description: "d", Content: Content{String: str("hunter2")}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sec.ARN, "arn:aws:secretsmanager:us-east-1:000000000000:secret:db/password-") || len(sec.ARN) != len("arn:aws:secretsmanager:us-east-1:000000000000:secret:db/password-")+6 {
		t.Errorf("ARN %s", sec.ARN)
	}
	if _, err := s.Create(ctx, CreateInput{Name: "db/password", Content: Content{String: str("x")}}); code(err) != CodeExists {
		t.Errorf("second create: %v", err)
	}
	for _, id := range []string{"db/password", sec.ARN, "arn:aws:secretsmanager:us-east-1:000000000000:secret:db/password"} {
		v, err := s.Value(ctx, id, "", "")
		if err != nil || v.String == nil || *v.String != "hunter2" {
			t.Errorf("Value(%s) = %+v, %v", id, v, err)
		}
	}
	if _, err := s.Value(ctx, sec.ARN[:len(sec.ARN)-6]+"zzzzzz", "", ""); code(err) != CodeNotFound {
		t.Errorf("a wrong ARN suffix: %v", err)
	}
	_, v2, err := s.Put(ctx, "db/password", Content{String: str("correct horse")}, "")
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := s.Value(ctx, "db/password", "", "")
	prev, _ := s.Value(ctx, "db/password", "", StagePrevious)
	if *cur.String != "correct horse" || cur.VersionID != v2.ID || *prev.String != "hunter2" {
		t.Errorf("after Put: current %q (%s), previous %q", *cur.String, cur.VersionID, *prev.String)
	}
	if _, _, err := s.Put(ctx, "db/password", Content{String: str(strings.Repeat("x", MaxValueBytes+1))}, ""); code(err) != CodeInvalidParameter {
		t.Errorf("oversized value: %v", err)
	}
	if _, err := s.Create(ctx, CreateInput{Name: "bad name!"}); code(err) != CodeInvalidParameter {
		t.Errorf("bad name: %v", err)
	}

	// Scheduled deletion: described, not readable, not re-creatable, restorable.
	if _, _, err := s.Delete(ctx, "db/password", false, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Value(ctx, "db/password", "", ""); code(err) != CodeInvalidRequest {
		t.Errorf("value of a deleted secret: %v", err)
	}
	if _, err := s.Create(ctx, CreateInput{Name: "db/password"}); code(err) != CodeInvalidRequest {
		t.Errorf("re-create during the recovery window: %v", err)
	}
	if l, _ := s.List(ctx, false); len(l) != 0 {
		t.Errorf("List shows a deleted secret: %+v", l)
	}
	if _, err := s.Restore(ctx, "db/password"); err != nil {
		t.Fatal(err)
	}
	// After the window it is gone.
	s.Delete(ctx, "db/password", false, 7)
	s.now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	if _, err := s.Describe(ctx, "db/password"); code(err) != CodeNotFound {
		t.Errorf("after the recovery window: %v", err)
	}
	s.now = time.Now

	// Forced deletion.
	s.Create(ctx, CreateInput{Name: "tmp", Content: Content{Binary: []byte{0, 1}}})
	if _, _, err := s.Delete(ctx, "tmp", true, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Describe(ctx, "tmp"); code(err) != CodeNotFound {
		t.Errorf("after forced deletion: %v", err)
	}
	if _, err := s.Create(ctx, CreateInput{Name: "tmp"}); err != nil {
		t.Errorf("re-create after forced deletion: %v", err)
	}
}

func TestIdempotentToken(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	tok := "0123456789abcdef0123456789abcdef"
	in := CreateInput{Name: "n", Token: tok, Content: Content{String: str("v")}}
	if _, err := s.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, in); err != nil {
		t.Errorf("a retried create with the same token: %v", err)
	}
	in.String = str("w")
	if _, err := s.Create(ctx, in); code(err) != CodeExists {
		t.Errorf("same token, other value: %v", err)
	}
}

func TestResolve(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	s.Create(ctx, CreateInput{Name: "plain", Content: Content{String: str("p@ss")}})
	s.Create(ctx, CreateInput{Name: "app/db", Content: Content{String: str(`{"user":"admin","port":5432,"opts":{"a":1}}`)}})
	s.Create(ctx, CreateInput{Name: "bin", Content: Content{Binary: []byte{1}}})
	arn := func(name string) string { sec, _ := s.Describe(ctx, name); return sec.ARN }
	for _, tc := range []struct{ in, want, errType string }{
		{"no refs", "no refs", ""},
		{"{{resolve:secretsmanager:plain}}", "p@ss", ""},
		{"x={{resolve:secretsmanager:plain}};u={{resolve:secretsmanager:app/db:SecretString:user}}!", "x=p@ss;u=admin!", ""},
		{"{{resolve:secretsmanager:app/db:SecretString:port}}", "5432", ""},
		{"{{resolve:secretsmanager:app/db:SecretString:opts}}", `{"a":1}`, ""},
		{"{{resolve:secretsmanager:" + arn("plain") + "}}", "p@ss", ""},
		{"{{resolve:secretsmanager:" + arn("app/db") + ":SecretString:user:AWSCURRENT}}", "admin", ""},
		{"{{resolve:secretsmanager:plain:SecretString::AWSCURRENT}}", "p@ss", ""},
		{"{{resolve:secretsmanager:missing}}", "", ErrorSecretNotFound},
		{"{{resolve:secretsmanager:plain:SecretString:k}}", "", ErrorSecretInvalid},
		{"{{resolve:secretsmanager:app/db:SecretString:nokey}}", "", ErrorSecretInvalid},
		{"{{resolve:secretsmanager:bin}}", "", ErrorSecretInvalid},
		{"{{resolve:secretsmanager:plain", "", ErrorSecretInvalid},
		{"{{resolve:secretsmanager:plain:SecretBinary}}", "", ErrorSecretInvalid},
	} {
		got, err := s.Resolve(ctx, tc.in)
		if tc.errType != "" {
			if code(err) != tc.errType {
				t.Errorf("Resolve(%q) = %q, %v; want %s", tc.in, got, err, tc.errType)
			}
			if err != nil && (strings.Contains(err.Error(), "p@ss") || strings.Contains(err.Error(), "admin")) {
				t.Errorf("Resolve(%q) error shows a value: %v", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestValuesNeverStoredInClear(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir)
	s, err := e.open(t, KeySource{File: filepath.Join(dir, "secrets.key")})
	if err != nil {
		t.Fatal(err)
	}
	const value = "very-distinctive-secret-value-31337"
	s.Create(context.Background(), CreateInput{Name: "n", Content: Content{String: str(value)}})
	s.Put(context.Background(), "n", Content{String: str(value + "-2")}, "")
	e.bb.Close()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(value)) {
			t.Errorf("%s holds the value in clear", path)
		}
		return nil
	})
}

func FuzzParseRefs(f *testing.F) {
	f.Add("{{resolve:secretsmanager:a:SecretString:k:AWSCURRENT}}")
	f.Add("x{{resolve:secretsmanager:arn:aws:secretsmanager:us-east-1:000000000000:secret:n-abcdef:SecretString:k}}y")
	f.Fuzz(func(t *testing.T, s string) {
		refs, err := ParseRefs(s)
		if err != nil {
			return
		}
		for _, r := range refs {
			if r.SecretID == "" || !strings.Contains(s, r.Text) {
				t.Errorf("ParseRefs(%q) gave %+v", s, r)
			}
		}
	})
}

// BenchmarkResolve is what a cold start pays per environment variable
// holding one reference (a KV read and an AES-GCM open).
func BenchmarkResolve(b *testing.B) {
	e := start(b, b.TempDir())
	kv, err := e.bb.KeyValue(context.Background(), Bucket)
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), kv, KeySource{File: filepath.Join(e.dir, "k")})
	if err != nil {
		b.Fatal(err)
	}
	s.Create(context.Background(), CreateInput{Name: "db", Content: Content{String: str(`{"password":"x"}`)}})
	for b.Loop() {
		if _, err := s.Resolve(context.Background(), "{{resolve:secretsmanager:db:SecretString:password}}"); err != nil {
			b.Fatal(err)
		}
	}
}
