package deploy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/template"
)

func keyPlan(keys ...[]gateway.APIKey) *template.Plan {
	p := &template.Plan{Stack: "s"}
	for i, k := range keys {
		p.Resources = append(p.Resources, template.Resource{LogicalID: string(rune('A' + i)), API: &gateway.API{ID: "api" + string(rune('a'+i)), Protocol: gateway.REST, APIKeys: k}})
	}
	return p
}

// Keys keep the value of their name from the stored plan; new ones get a
// random value, shared keys one value.
func TestFillAPIKeys(t *testing.T) {
	next := keyPlan([]gateway.APIKey{{Name: "AApiKey"}, {Name: template.SharedAPIKey}}, []gateway.APIKey{{Name: template.SharedAPIKey}, {Name: "BApiKey"}})
	fillAPIKeys(nil, next)
	a, b := next.Resources[0].API.APIKeys, next.Resources[1].API.APIKeys
	valid := regexp.MustCompile(`^[A-Za-z0-9]{40}$`)
	for _, k := range append(a, b...) {
		if !valid.MatchString(k.Value) {
			t.Errorf("key %s = %q", k.Name, k.Value)
		}
	}
	if a[1].Value != b[0].Value || a[0].Value == b[1].Value || a[0].Value == a[1].Value {
		t.Errorf("values: %+v %+v", a, b)
	}
	again := keyPlan([]gateway.APIKey{{Name: "AApiKey"}, {Name: template.SharedAPIKey}}, []gateway.APIKey{{Name: template.SharedAPIKey}, {Name: "BApiKey"}, {Name: "CApiKey"}})
	fillAPIKeys(next, again)
	a2, b2 := again.Resources[0].API.APIKeys, again.Resources[1].API.APIKeys
	if a2[0] != a[0] || a2[1] != a[1] || b2[0] != b[0] || b2[1] != b[1] || !valid.MatchString(b2[2].Value) || b2[2].Value == b2[1].Value {
		t.Errorf("redeploy changed the keys: %+v %+v, was %+v %+v", a2, b2, a, b)
	}
	if ch := template.Diff(next, keyPlan(a2, b2[:2])); !ch.Empty() {
		t.Errorf("same keys, changes %+v", ch)
	}
}

func TestSameURL(t *testing.T) {
	maxAge, yes := 300, true
	want := &template.FunctionURL{AuthType: "NONE", InvokeMode: "BUFFERED", Cors: &lambda.Cors{AllowOrigins: []string{"https://a.example"}, MaxAge: &maxAge, AllowCredentials: &yes}}
	cur := &awslambda.GetFunctionUrlConfigOutput{AuthType: "NONE", InvokeMode: "BUFFERED",
		Cors: &types.Cors{AllowOrigins: []string{"https://a.example"}, MaxAge: aws.Int32(300), AllowCredentials: aws.Bool(true)}}
	if !sameURL(cur, want) {
		t.Errorf("same configuration reported different")
	}
	for name, change := range map[string]func(c *awslambda.GetFunctionUrlConfigOutput){
		"auth":   func(c *awslambda.GetFunctionUrlConfigOutput) { c.AuthType = "AWS_IAM" },
		"mode":   func(c *awslambda.GetFunctionUrlConfigOutput) { c.InvokeMode = "RESPONSE_STREAM" },
		"origin": func(c *awslambda.GetFunctionUrlConfigOutput) { c.Cors.AllowOrigins = []string{"*"} },
		"maxAge": func(c *awslambda.GetFunctionUrlConfigOutput) { c.Cors.MaxAge = nil },
		"noCors": func(c *awslambda.GetFunctionUrlConfigOutput) { c.Cors = nil },
	} {
		c := *cur
		cors := *cur.Cors
		c.Cors = &cors
		change(&c)
		if sameURL(&c, want) {
			t.Errorf("%s: a change not seen", name)
		}
	}
	// An empty CORS configuration (what an update removing CORS leaves) is none.
	if !sameURL(&awslambda.GetFunctionUrlConfigOutput{AuthType: "NONE", InvokeMode: "BUFFERED", Cors: &types.Cors{}}, &template.FunctionURL{AuthType: "NONE", InvokeMode: "BUFFERED"}) {
		t.Errorf("empty CORS differs from none")
	}
}

func TestFunctionURLs(t *testing.T) {
	p := &template.Plan{Resources: []template.Resource{
		{LogicalID: "A", Function: &template.Function{Name: "s-A", URL: &template.FunctionURL{AuthType: "NONE"}, Alias: &template.Alias{Name: "live"}}},
		{LogicalID: "B", Function: &template.Function{Name: "s-B", URL: &template.FunctionURL{AuthType: "AWS_IAM"}}},
		{LogicalID: "C", Function: &template.Function{Name: "s-C"}},
	}}
	us := functionURLs(p, "http://127.0.0.1:8080")
	if len(us) != 2 || us[0].Qualifier != "live" || us[1].Qualifier != "$LATEST" {
		t.Fatalf("urls = %+v", us)
	}
	id := lambda.FunctionURLID("s-A", "live")
	if us[0].URL != "http://"+id+".lambda-url.localhost:8080/" || us[0].PathURL != "http://127.0.0.1:8080/lambda-url/"+id+"/" {
		t.Errorf("url = %+v", us[0])
	}
	var sb strings.Builder
	(&Result{Plan: p, FunctionURLs: us, APIKeys: []APIKey{{API: "s-Rest", Name: "RestApiKey", Value: "v"}}}).WriteSummary(&sb)
	for _, want := range []string{"Function URLs:", "s-A  live     NONE", us[1].URL, "API keys (send one as the x-api-key header):", "s-Rest  RestApiKey  v"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sb.String())
		}
	}
}
