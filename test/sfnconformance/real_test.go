package sfnconformance

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
)

// Real-function mode: the Lambda-backed cases run end to end on a real
// `nimbus server` (built from this tree, on a fresh data dir): each case's
// functions are deployed as Python functions generated from their recorded
// behaviour, the state machine is created and executed through the Step
// Functions API with aws-sdk-go-v2, and the outcome (DescribeExecution,
// GetExecutionHistory event types) is compared as in the default mode. It
// runs on the real clock (the 5-second task timeouts really take 5 s), so it
// is opt-in:
//
//	go test ./test/sfnconformance/ -run TestConformanceReal -real [-update]
//
// (or NIMBUS_SFN_REAL=1). -update rewrites known_failures_real.txt and the
// real-mode table of docs/sfn-conformance.md (real_results.md).

var realMode = flag.Bool("real", false, "run the Lambda-backed cases on a real nimbus server with real functions (slow)")

// pythonHandlers are the corpus' Lambda behaviours as Python 3.12 handlers,
// keyed by the start of the recorded behaviour text.
var pythonHandlers = []struct{ prefix, code string }{
	{"returns the event unchanged", "def handler(event, context):\n    return event\n"},
	{"sleeps 60 seconds", "import time\n\n\ndef handler(event, context):\n    time.sleep(60)\n    return event\n"},
	{"raises a generic exception", "def handler(event, context):\n    raise Exception(\"Some exception was raised.\")\n"},
	// The recorded stack trace names line 9 of the original file.
	{"raises a custom exception", "class CustomException(Exception):\n    message = \"CustomException message\"\n\n\ndef handler(event, context):\n    # Laid out like the recorded function,\n    # whose stack trace names the line\n    # of the raise.\n    raise CustomException()\n"},
	{"returns a string of 257*1024", "def handler(event, context):\n    return \"a\" * (257 * 1024)\n"},
	{"returns the raw bytes \"HelloWorld!\"", "def handler(event, context):\n    return \"HelloWorld!\"\n"},
	{"ignores the event and returns {\"Return\": \"HelloWorld\"}", "def handler(event, context):\n    return {\"Return\": \"HelloWorld\"}\n"},
}

func handlerFor(behavior string) (string, bool) {
	for _, h := range pythonHandlers {
		if strings.HasPrefix(behavior, h.prefix) {
			return h.code, true
		}
	}
	return "", false
}

func zipHandler(code string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("handler.py")
	io.WriteString(w, code)
	zw.Close()
	return buf.Bytes()
}

// realServer is a `nimbus server` process.
type realServer struct {
	cmd    *exec.Cmd
	api    string
	stderr *bytes.Buffer
	exited chan struct{}
	lambda *awslambda.Client
	sfn    *sfn.Client
}

func startRealServer(t *testing.T) *realServer {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "nimbus")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/nimbus").CombinedOutput(); err != nil {
		t.Fatalf("build nimbus: %v\n%s", err, out)
	}
	s := &realServer{stderr: new(bytes.Buffer), exited: make(chan struct{})}
	args := []string{"server", "--data-dir", filepath.Join(dir, "data"), "--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"}
	if exec.Command("python3.12", "--version").Run() != nil {
		// The corpus' functions are Python 3.12; run them on 3.11 where 3.12 is missing.
		args = append(args, "--runtime-map", "python3.12=python3.11")
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stderr = s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		l := sc.Text()
		if a, ok := strings.CutPrefix(l, "api: "); ok {
			s.api = a
		}
		if l == "ready" {
			break
		}
	}
	if s.api == "" {
		t.Fatalf("server did not start: %s", s.stderr)
	}
	go io.Copy(io.Discard, out)
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
		}
	})
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	s.lambda = awslambda.New(awslambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.api), Credentials: creds, RetryMaxAttempts: 1})
	noPrefix := func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("noHostPrefix",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
			}), middleware.Before)
	}
	s.sfn = sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.api), Credentials: creds, RetryMaxAttempts: 1,
		APIOptions: []func(*middleware.Stack) error{noPrefix}})
	return s
}

// deploy creates the function, or replaces its code, and waits until it is usable.
func (s *realServer) deploy(t *testing.T, name, code string) {
	ctx := context.Background()
	zipped := zipHandler(code)
	_, err := s.lambda.CreateFunction(ctx, &awslambda.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: lambdatypes.RuntimePython312, Handler: aws.String("handler.handler"),
		Role: aws.String("arn:aws:iam::000000000000:role/lambda"), Code: &lambdatypes.FunctionCode{ZipFile: zipped},
		Timeout: aws.Int32(900), // the recorded functions run up to 60 s; task timeouts must fire first
	})
	if _, exists := errors.AsType[*lambdatypes.ResourceConflictException](err); exists {
		_, err = s.lambda.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: zipped})
	}
	if err != nil {
		t.Fatalf("deploy %s: %v", name, err)
	}
	if err := awslambda.NewFunctionUpdatedV2Waiter(s.lambda).Wait(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(name)}, time.Minute); err != nil {
		t.Fatalf("deploy %s: %v", name, err)
	}
}

// wave is a set of cases whose functions agree (one behaviour per name).
type wave struct {
	functions map[string]string // name -> handler code
	cases     []*caseFile
}

// planWaves groups cases so that each wave can run in parallel on one set
// of deployed functions (the corpus reuses names with different behaviours).
func planWaves(cases []*caseFile) ([]*wave, map[string]string) {
	var waves []*wave
	skipped := map[string]string{}
next:
	for _, c := range cases {
		fns := map[string]string{}
		for _, fn := range c.Lambda {
			code, ok := handlerFor(fn.Behavior)
			if !ok {
				skipped[c.Name] = "no Python equivalent for behaviour: " + fn.Behavior
				continue next
			}
			fns[fn.FunctionName] = code
		}
		for _, w := range waves {
			ok := true
			for n, code := range fns {
				if have, used := w.functions[n]; used && have != code {
					ok = false
				}
			}
			if ok {
				for n, code := range fns {
					w.functions[n] = code
				}
				w.cases = append(w.cases, c)
				continue next
			}
		}
		waves = append(waves, &wave{functions: fns, cases: []*caseFile{c}})
	}
	return waves, skipped
}

func TestConformanceReal(t *testing.T) {
	if !*realMode && os.Getenv("NIMBUS_SFN_REAL") == "" {
		t.Skip("real-function mode is opt-in: -real or NIMBUS_SFN_REAL=1")
	}
	corpus := findCorpus(t)
	var cases []*caseFile
	for _, c := range loadCases(t, filepath.Join(corpus, "cases")) {
		if c.Category == "lambda" && !slices.Contains(c.Features, "jsonata") {
			cases = append(cases, c)
		}
	}
	srv := startRealServer(t)
	waves, skipped := planWaves(cases)
	results := map[string]outcome{}
	var mu sync.Mutex
	for name, why := range skipped {
		results[name] = outcome{name: name, category: "lambda", skipped: why}
	}
	for i, w := range waves {
		for name, code := range w.functions {
			srv.deploy(t, name, code)
		}
		t.Run(fmt.Sprintf("wave%d", i), func(t *testing.T) {
			for j, c := range w.cases {
				t.Run(c.Name, func(t *testing.T) {
					t.Parallel()
					o := runReal(t, srv, c, fmt.Sprintf("w%dc%d", i, j))
					o.name, o.category, o.features = c.Name, c.Category, c.Features
					mu.Lock()
					results[c.Name] = o
					mu.Unlock()
				})
			}
		})
	}
	var all []outcome
	for _, r := range results {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	pass, fail := 0, 0
	for _, r := range all {
		switch {
		case r.skipped != "":
		case r.failure != "":
			fail++
			t.Logf("FAIL %s: %s", r.name, oneLine(r.failure))
		default:
			pass++
		}
	}
	t.Logf("real-function mode: %d Lambda-backed JSONPath cases, %d pass, %d fail, %d skipped", len(all), pass, fail, len(all)-pass-fail)
	checkKnownReal(t, all)
	writeRealReport(t, all, len(waves))
}

// runReal executes one case through the Step Functions API.
func runReal(t *testing.T, s *realServer, c *caseFile, uniq string) (o outcome) {
	o.history = "-"
	ctx := context.Background()
	typ := sfntypes.StateMachineTypeStandard
	if c.StateMachineType == "EXPRESS" {
		typ = sfntypes.StateMachineTypeExpress
	}
	name := "sm_" + uniq + "_" + shortName(c.Name)
	if len(name) > 80 {
		name = name[:80]
	}
	cr, err := s.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), Definition: aws.String(string(c.Definition)),
		RoleArn: aws.String(roleARN), Type: typ})
	if err != nil {
		o.failure = "definition rejected: " + err.Error()
		return o
	}
	input := string(bytes.TrimSpace(c.Input))
	if input == "" || input == "null" {
		input = "{}"
	}
	res := &engine.Result{}
	var events []engine.Event
	set := func(status string, output, errName, cause *string) {
		res.Status = status
		if output != nil {
			res.Output = []byte(*output)
		}
		if errName != nil {
			res.Error, res.HasError = *errName, true
		}
		if cause != nil {
			res.Cause, res.HasCause = *cause, true
		}
	}
	if typ == sfntypes.StateMachineTypeExpress {
		// StartExecution of an Express machine has no readable outcome on AWS
		// either (only CloudWatch Logs); run both kinds synchronously.
		out, err := s.sfn.StartSyncExecution(ctx, &sfn.StartSyncExecutionInput{StateMachineArn: cr.StateMachineArn, Input: aws.String(input)})
		if err != nil {
			o.failure = "StartSyncExecution: " + err.Error()
			return o
		}
		set(string(out.Status), out.Output, out.Error, out.Cause)
	} else {
		st, err := s.sfn.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: cr.StateMachineArn, Input: aws.String(input)})
		if err != nil {
			o.failure = "StartExecution: " + err.Error()
			return o
		}
		if stopCalled(c) {
			time.Sleep(500 * time.Millisecond)
			s.sfn.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: st.ExecutionArn})
		}
		deadline := time.Now().Add(3 * time.Minute)
		var d *sfn.DescribeExecutionOutput
		for {
			d, err = s.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: st.ExecutionArn})
			if err != nil {
				o.failure = "DescribeExecution: " + err.Error()
				return o
			}
			if d.Status != sfntypes.ExecutionStatusRunning || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		set(string(d.Status), d.Output, d.Error, d.Cause)
		p := sfn.NewGetExecutionHistoryPaginator(s.sfn, &sfn.GetExecutionHistoryInput{ExecutionArn: st.ExecutionArn, MaxResults: 1000})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				o.failure = "GetExecutionHistory: " + err.Error()
				return o
			}
			for _, e := range page.Events {
				events = append(events, engine.Event{Type: string(e.Type)})
			}
		}
	}
	m := &matcher{tokens: c.MaskedTokens, skip: skipPaths(c.Notes)}
	if d := compareResult(m, c, res, events); d != "" {
		m.useSkip = true
		if len(m.skip) == 0 || compareResult(m, c, res, events) != "" {
			o.failure = d
			return o
		}
		o.viaSkips = true
	}
	return o
}

const knownRealFile = "known_failures_real.txt"

func checkKnownReal(t *testing.T, all []outcome) {
	known := map[string]bool{}
	if b, err := os.ReadFile(knownRealFile); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				name, _, _ := strings.Cut(line, " ")
				known[name] = true
			}
		}
	}
	var lines []string
	for _, r := range all {
		if r.skipped != "" {
			continue
		}
		switch {
		case r.failure != "" && !known[r.name] && !*update:
			t.Errorf("regression (real mode): %s: %s", r.name, r.failure)
		case r.failure == "" && known[r.name] && !*update:
			t.Errorf("%s now passes in real mode: remove it from %s", r.name, knownRealFile)
		}
		if r.failure != "" {
			lines = append(lines, r.name+" "+oneLine(r.failure))
		}
	}
	if *update {
		content := "# Lambda-backed cases that do not pass with real functions (go test -run TestConformanceReal -real -update).\n" + strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile(knownRealFile, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// realResultsFile is the real mode's section of docs/sfn-conformance.md,
// kept next to the runner so that the default mode can include it.
const realResultsFile = "real_results.md"

func writeRealReport(t *testing.T, all []outcome, waves int) {
	if !*update {
		return
	}
	var b strings.Builder
	pass, fail, skip := 0, 0, 0
	for _, r := range all {
		switch {
		case r.skipped != "":
			skip++
		case r.failure != "":
			fail++
		default:
			pass++
		}
	}
	b.WriteString("## Real functions (`-real`)\n\n")
	b.WriteString("`go test ./test/sfnconformance/ -run TestConformanceReal -real` runs the Lambda-backed JSONPath cases end to end:\n")
	b.WriteString("a `nimbus server` built from the tree, each case's functions deployed through the Lambda API as Python 3.12\n")
	b.WriteString("handlers generated from their recorded behaviour, the state machine created and run through the Step Functions\n")
	fmt.Fprintf(&b, "API (aws-sdk-go-v2), on the real clock, in %d waves (the corpus reuses function names with different behaviours).\n", waves)
	b.WriteString("Express cases run with StartSyncExecution (an asynchronous Express execution's outcome is not readable through the API).\n\n")
	b.WriteString("| cases | pass | fail | skipped |\n| ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d |\n\n", len(all), pass, fail, skip)
	if fail > 0 {
		b.WriteString("Failures (also in `test/sfnconformance/known_failures_real.txt`):\n\n")
		for _, r := range all {
			if r.skipped == "" && r.failure != "" {
				fmt.Fprintf(&b, "- `%s`: %s\n", r.name, oneLine(r.failure))
			}
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(realResultsFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
