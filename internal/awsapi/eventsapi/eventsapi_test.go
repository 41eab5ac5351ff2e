package eventsapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/events/schedule"
	"github.com/nimbus-dev/nimbus/internal/invoke"
)

// nopInvoker accepts every invocation; firing is tested in package schedule.
type nopInvoker struct{}

func (nopInvoker) Invoke(_ context.Context, req invoke.Request) (*invoke.Response, error) {
	return &invoke.Response{Status: 202, RequestID: req.RequestID}, nil
}

type server struct {
	svc  *schedule.Service
	api  *API
	http *httptest.Server
	eb   *eventbridge.Client
}

// startServer runs the API over a schedule service on a real embedded JetStream.
func startServer(tb testing.TB) *server {
	tb.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	kv, err := bb.KeyValue(context.Background(), schedule.Bucket)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc := schedule.New(schedule.Config{}, log, kv, nopInvoker{})
	if err := svc.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { svc.Run(ctx) })
	api := New(log, svc)
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", api.Handler())
	mux.Handle("GET /nimbus/v1/schedules", api.SchedulesHandler())
	hs := httptest.NewServer(mux)
	tb.Cleanup(func() {
		hs.Close()
		cancel()
		wg.Wait()
		bb.Close()
	})
	return &server{svc: svc, api: api, http: hs, eb: client(hs.URL)}
}

// client is a real SDK client, retries off.
func client(endpoint string) *eventbridge.Client {
	return eventbridge.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// wantAPIError checks err's code and, if msg is not empty, its message.
func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	ae, ok := errors.AsType[smithy.APIError](err)
	if !ok {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code || msg != "" && ae.ErrorMessage() != msg {
		t.Fatalf("error = %s: %q, want %s: %q", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
}

const fn = "arn:aws:lambda:us-east-1:000000000000:function:tick"

func TestRuleLifecycle(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	put, err := s.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("nightly"), ScheduleExpression: aws.String("cron(0 3 * * ? *)"),
		Description: aws.String("every night")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(put.RuleArn); got != "arn:aws:events:us-east-1:000000000000:rule/nightly" {
		t.Errorf("RuleArn = %s", got)
	}
	d, err := s.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("nightly")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Name) != "nightly" || aws.ToString(d.ScheduleExpression) != "cron(0 3 * * ? *)" || d.State != types.RuleStateEnabled ||
		aws.ToString(d.Description) != "every night" || aws.ToString(d.EventBusName) != "default" || aws.ToString(d.Arn) != aws.ToString(put.RuleArn) ||
		aws.ToString(d.CreatedBy) != "000000000000" {
		t.Errorf("DescribeRule = %+v", d)
	}

	if _, err := s.eb.DisableRule(ctx, &eventbridge.DisableRuleInput{Name: aws.String("nightly")}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("nightly")}); d.State != types.RuleStateDisabled {
		t.Errorf("after DisableRule: %s", d.State)
	}
	if _, err := s.eb.EnableRule(ctx, &eventbridge.EnableRuleInput{Name: aws.String("nightly")}); err != nil {
		t.Fatal(err)
	}

	pt, err := s.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("nightly"), Targets: []types.Target{
		{Id: aws.String("fn"), Arn: aws.String(fn), Input: aws.String(`{"job":"report"}`)},
		{Id: aws.String("queue"), Arn: aws.String("arn:aws:sqs:us-east-1:000000000000:q")},
		{Id: aws.String("path"), Arn: aws.String(fn), InputPath: aws.String("$.detail")},
		{Id: aws.String("sm"), Arn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:flow")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var failedIDs []string
	for _, f := range pt.FailedEntries {
		failedIDs = append(failedIDs, aws.ToString(f.TargetId))
		if aws.ToString(f.ErrorCode) == "" || aws.ToString(f.ErrorMessage) == "" {
			t.Errorf("failed entry without code or message: %+v", f)
		}
	}
	slices.Sort(failedIDs)
	if pt.FailedEntryCount != 3 || !slices.Equal(failedIDs, []string{"path", "queue", "sm"}) {
		t.Errorf("PutTargets failed %d: %v, want path, queue and sm (no workflows wired)", pt.FailedEntryCount, failedIDs)
	}
	lt, err := s.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("nightly")})
	if err != nil {
		t.Fatal(err)
	}
	if len(lt.Targets) != 1 || aws.ToString(lt.Targets[0].Id) != "fn" || aws.ToString(lt.Targets[0].Arn) != fn || aws.ToString(lt.Targets[0].Input) != `{"job":"report"}` {
		t.Errorf("ListTargetsByRule = %+v", lt.Targets)
	}
	names, err := s.eb.ListRuleNamesByTarget(ctx, &eventbridge.ListRuleNamesByTargetInput{TargetArn: aws.String(fn)})
	if err != nil || !slices.Equal(names.RuleNames, []string{"nightly"}) {
		t.Errorf("ListRuleNamesByTarget = %v, %v", names, err)
	}

	_, err = s.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("nightly")})
	wantAPIError(t, err, "ValidationException", "Rule can't be deleted since it has targets.")
	rt, err := s.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String("nightly"), Ids: []string{"fn"}})
	if err != nil || rt.FailedEntryCount != 0 {
		t.Fatalf("RemoveTargets = %+v, %v", rt, err)
	}
	if _, err := s.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("nightly")}); err != nil {
		t.Fatal(err)
	}
	_, err = s.eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String("nightly")})
	if _, ok := errors.AsType[*types.ResourceNotFoundException](err); !ok {
		t.Fatalf("DescribeRule after delete = %v, want *types.ResourceNotFoundException", err)
	}
	wantAPIError(t, err, "ResourceNotFoundException", "Rule nightly does not exist on EventBus default.")
	if _, err := s.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String("nightly")}); err != nil {
		t.Errorf("deleting a deleted rule: %v", err)
	}
}

func TestErrors(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	for _, tt := range []struct {
		in        eventbridge.PutRuleInput
		code, msg string
	}{
		{eventbridge.PutRuleInput{Name: aws.String("p"), EventPattern: aws.String(`{"source":["x"]}`)}, "ValidationException", "event patterns are not supported yet"},
		{eventbridge.PutRuleInput{Name: aws.String("p")}, "ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified."},
		{eventbridge.PutRuleInput{Name: aws.String("p"), ScheduleExpression: aws.String("rate(1 minutes)")}, "ValidationException", "Parameter ScheduleExpression is not valid."},
		{eventbridge.PutRuleInput{Name: aws.String("p"), ScheduleExpression: aws.String("cron(0 18 * * * *)")}, "ValidationException", "Parameter ScheduleExpression is not valid."},
		{eventbridge.PutRuleInput{Name: aws.String("p"), ScheduleExpression: aws.String("cron(*/60 * * * ? *)")}, "ValidationException", "Parameter ScheduleExpression is not valid."},
		{eventbridge.PutRuleInput{Name: aws.String("a b"), ScheduleExpression: aws.String("rate(1 day)")}, "ValidationException", ""},
		{eventbridge.PutRuleInput{Name: aws.String("p"), ScheduleExpression: aws.String("rate(1 day)"), EventBusName: aws.String("custom")}, "ResourceNotFoundException", "Event bus custom does not exist."},
	} {
		_, err := s.eb.PutRule(ctx, &tt.in)
		wantAPIError(t, err, tt.code, tt.msg)
	}
	_, err := s.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("missing"), Targets: []types.Target{{Id: aws.String("1"), Arn: aws.String(fn)}}})
	wantAPIError(t, err, "ResourceNotFoundException", "Rule missing does not exist on EventBus default.")
	_, err = s.eb.EnableRule(ctx, &eventbridge.EnableRuleInput{Name: aws.String("missing")})
	wantAPIError(t, err, "ResourceNotFoundException", "")
	_, err = s.eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("missing")})
	wantAPIError(t, err, "ResourceNotFoundException", "")

	if _, err := s.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("full"), ScheduleExpression: aws.String("rate(1 hour)")}); err != nil {
		t.Fatal(err)
	}
	var six []types.Target
	for _, id := range []string{"1", "2", "3", "4", "5", "6"} {
		six = append(six, types.Target{Id: aws.String(id), Arn: aws.String(fn)})
	}
	_, err = s.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("full"), Targets: six})
	if _, ok := errors.AsType[*types.LimitExceededException](err); !ok {
		t.Errorf("six targets = %v, want *types.LimitExceededException", err)
	}
	_, err = s.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("full"), Targets: []types.Target{{Id: aws.String("bad id"), Arn: aws.String(fn)}}})
	wantAPIError(t, err, "ValidationException", "")

	for target, code := range map[string]string{"AWSEvents.PutEvents": "UnknownOperationException", "AWSEvents.Nope": "UnknownOperationException"} {
		resp := post(t, s.http.URL, target, `{}`)
		if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != code {
			t.Errorf("%s: %d %s", target, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
	}
	resp := post(t, s.http.URL, "AWSEvents.PutRule", `{"Name": 5}`)
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != "SerializationException" {
		t.Errorf("bad JSON: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}

func post(t *testing.T, url, target, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestListRulesPages(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	for _, n := range []string{"job-c", "job-a", "other", "job-e", "job-b", "job-d"} {
		if _, err := s.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(n), ScheduleExpression: aws.String("rate(1 day)")}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	pages := 0
	var token *string
	for {
		out, err := s.eb.ListRules(ctx, &eventbridge.ListRulesInput{NamePrefix: aws.String("job-"), Limit: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.Rules {
			got = append(got, aws.ToString(r.Name))
			if aws.ToString(r.ScheduleExpression) != "rate(1 day)" || r.State != types.RuleStateEnabled || aws.ToString(r.Arn) == "" {
				t.Errorf("rule %+v", r)
			}
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if pages != 3 || !slices.Equal(got, []string{"job-a", "job-b", "job-c", "job-d", "job-e"}) {
		t.Errorf("ListRules pages %d: %v", pages, got)
	}
	_, err := s.eb.ListRules(ctx, &eventbridge.ListRulesInput{Limit: aws.Int32(101)})
	wantAPIError(t, err, "ValidationException", "")
}

func TestSchedulesHandler(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	asked := time.Now()
	if _, err := s.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("hourly"), ScheduleExpression: aws.String("cron(0 * * * ? *)")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("off"), ScheduleExpression: aws.String("rate(1 day)"), State: types.RuleStateDisabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("hourly"), Targets: []types.Target{{Id: aws.String("1"), Arn: aws.String(fn)}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.http.URL + "/nimbus/v1/schedules?next=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Schedules []schedule.Status `json:"schedules"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if len(out.Schedules) != 2 {
		t.Fatalf("schedules = %+v", out.Schedules)
	}
	h := out.Schedules[0]
	// The next full hour after the answer was computed: after asked, unless
	// an hour began while the test ran.
	next := asked.UTC().Truncate(time.Hour).Add(time.Hour)
	if len(h.NextFires) > 0 && h.NextFires[0].Equal(next.Add(time.Hour)) && !time.Now().Before(next) {
		next = next.Add(time.Hour)
	}
	if h.Name != "hourly" || len(h.NextFires) != 2 || !h.NextFires[0].Equal(next) || !h.NextFires[1].Equal(next.Add(time.Hour)) ||
		!slices.Equal(h.Targets, []string{fn}) || h.State != "ENABLED" {
		t.Errorf("hourly = %+v, want next fires %s and an hour later", h, next)
	}
	if off := out.Schedules[1]; off.Name != "off" || len(off.NextFires) != 0 || off.State != "DISABLED" {
		t.Errorf("disabled rule = %+v", off)
	}
}
