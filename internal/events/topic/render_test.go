package topic

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestSNSEventMatchesAWSFixture checks the event functions receive against
// aws-lambda-go's golden SNS event: the same fields at every level, and it
// decodes into events.SNSEvent.
func TestSNSEventMatchesAWSFixture(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Skipf("aws-lambda-go not in the module cache: %v", err)
	}
	fixture, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "events", "testdata", "sns-event.json"))
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	s := &Service{cfg: Config{APIURL: "http://127.0.0.1:8900"}}
	d := &delivery{Sub: "8a21d249-4329-4871-acc6-7be709c6ea7f", Topic: "orders", Type: TypeNotification,
		ID: "95df01b4-ee98-5cb9-9903-4c221d41eb5e", Subject: "TestInvoke", Message: "Hello from SNS!",
		Timestamp: time.Date(2015, 6, 3, 17, 43, 27, 123e6, time.UTC).UnixMilli(),
		Attrs:     []Attribute{str("Test", "TestString"), {Name: "TestBinary", DataType: "Binary", BinaryValue: []byte("TestBinary")}}}
	got := s.lambdaEvent(d)

	var wantDoc, gotDoc any
	if err := json.Unmarshal(fixture, &wantDoc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &gotDoc); err != nil {
		t.Fatal(err)
	}
	if w, g := shape(wantDoc, ""), shape(gotDoc, ""); !slices.Equal(w, g) {
		t.Errorf("event fields differ from aws-lambda-go's fixture:\n got  %v\n want %v", g, w)
	}
	var ev events.SNSEvent
	if err := json.Unmarshal(got, &ev); err != nil {
		t.Fatalf("events.SNSEvent: %v", err)
	}
	r := ev.Records[0]
	if r.SNS.Timestamp.Format(timeFormat) != "2015-06-03T17:43:27.123Z" || r.SNS.Subject != "TestInvoke" ||
		r.EventSubscriptionArn != "arn:aws:sns:us-east-1:000000000000:orders:8a21d249-4329-4871-acc6-7be709c6ea7f" ||
		r.SNS.MessageAttributes["Test"].(map[string]any)["Value"] != "TestString" {
		t.Errorf("decoded event = %+v", ev)
	}
}

// shape lists the paths of a JSON document's fields, with the names of
// message attributes (user data) replaced by "*".
func shape(v any, path string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			name := k
			if strings.HasSuffix(path, "/MessageAttributes") {
				name = "*"
			}
			out = append(out, path+"/"+name)
			out = append(out, shape(e, path+"/"+name)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, shape(e, path+"[]")...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
