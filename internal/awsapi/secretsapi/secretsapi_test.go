package secretsapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/secrets"
)

func newServer(t *testing.T) (*sm.Client, string) {
	t.Helper()
	dir := t.TempDir()
	bb, err := backbone.Start(backbone.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bb.Close)
	kv, err := bb.KeyValue(t.Context(), secrets.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	store, err := secrets.Open(t.Context(), kv, secrets.KeySource{File: filepath.Join(dir, "k")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(slog.New(slog.DiscardHandler), store))
	t.Cleanup(srv.Close)
	return sm.New(sm.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), RetryMaxAttempts: 1}), srv.URL
}

// TestSDK drives every action with aws-sdk-go-v2's Secrets Manager client.
func TestSDK(t *testing.T) {
	c, _ := newServer(t)
	ctx := t.Context()
	created, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("a"), SecretString: aws.String("v1"), Description: aws.String("desc"),
		Tags: []smtypes.Tag{{Key: aws.String("team"), Value: aws.String("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	if created.VersionId == nil || !strings.HasPrefix(aws.ToString(created.ARN), "arn:aws:secretsmanager:us-east-1:000000000000:secret:a-") {
		t.Errorf("CreateSecret = %+v", created)
	}
	put, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: created.ARN, SecretBinary: []byte{0, 1, 2}})
	if err != nil || len(put.VersionStages) != 1 || put.VersionStages[0] != "AWSCURRENT" {
		t.Fatalf("PutSecretValue = %+v, %v", put, err)
	}
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("a")})
	if err != nil || string(got.SecretBinary) != "\x00\x01\x02" || got.SecretString != nil || aws.ToString(got.VersionId) != aws.ToString(put.VersionId) {
		t.Errorf("GetSecretValue = %+v, %v", got, err)
	}
	prev, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("a"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "v1" {
		t.Errorf("GetSecretValue AWSPREVIOUS = %+v, %v", prev, err)
	}
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("a")})
	if err != nil || aws.ToString(d.Description) != "desc" || len(d.VersionIdsToStages) != 2 || d.CreatedDate == nil || len(d.Tags) != 1 {
		t.Errorf("DescribeSecret = %+v, %v", d, err)
	}

	for i := range 5 {
		c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(fmt.Sprintf("p/%d", i))})
	}
	var names []string
	p := sm.NewListSecretsPaginator(c, &sm.ListSecretsInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.SecretList {
			names = append(names, aws.ToString(s.Name))
		}
	}
	if strings.Join(names, ",") != "a,p/0,p/1,p/2,p/3,p/4" {
		t.Errorf("ListSecrets pages = %v", names)
	}
	filtered, err := c.ListSecrets(ctx, &sm.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"p/"}}}})
	if err != nil || len(filtered.SecretList) != 5 {
		t.Errorf("ListSecrets name filter = %d, %v", len(filtered.SecretList), err)
	}

	del, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("a"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil || del.DeletionDate == nil {
		t.Fatalf("DeleteSecret = %+v, %v", del, err)
	}
	if _, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("a")}); !is[*smtypes.InvalidRequestException](err) {
		t.Errorf("GetSecretValue of a deleted secret: %v", err)
	}
	if _, err := c.RestoreSecret(ctx, &sm.RestoreSecretInput{SecretId: aws.String("a")}); err != nil {
		t.Errorf("RestoreSecret: %v", err)
	}
	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("a"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"missing": func() error {
			_, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("a")})
			return err
		}(),
		"exists": func() error {
			_, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("p/0")})
			return err
		}(),
		"bad window": func() error {
			_, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("p/0"), RecoveryWindowInDays: aws.Int64(3)})
			return err
		}(),
	} {
		want := map[string]bool{
			"missing":    is[*smtypes.ResourceNotFoundException](err),
			"exists":     is[*smtypes.ResourceExistsException](err),
			"bad window": is[*smtypes.InvalidParameterException](err),
		}
		if !want[name] {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestWire checks the JSON 1.1 error shape and that values are not echoed
// in errors.
func TestWire(t *testing.T) {
	_, url := newServer(t)
	post := func(target, body string) (int, http.Header, string) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, tc := range []struct{ target, body, code string }{
		{"secretsmanager.GetSecretValue", `{"SecretId":"nope"}`, "ResourceNotFoundException"},
		{"secretsmanager.GetSecretValue", `{}`, "InvalidParameterException"},
		{"secretsmanager.CreateSecret", `{"Name":"x","SecretString":"s3cr3t-value","SecretBinary":"AA=="}`, "InvalidParameterException"},
		{"secretsmanager.CreateSecret", `{"Name":7}`, "SerializationException"},
		{"secretsmanager.RotateSecret", `{}`, "UnknownOperationException"},
	} {
		status, h, body := post(tc.target, tc.body)
		if status != 400 || h.Get("X-Amzn-ErrorType") != tc.code || !strings.Contains(body, `"__type":"`+tc.code+`"`) ||
			h.Get("Content-Type") != "application/x-amz-json-1.1" || strings.Contains(body, "s3cr3t-value") {
			t.Errorf("%s %s = %d %s %s", tc.target, tc.body, status, h.Get("X-Amzn-ErrorType"), body)
		}
	}
}

func is[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}
