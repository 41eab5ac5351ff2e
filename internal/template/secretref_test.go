package template

import (
	"strings"
	"testing"
)

// TestSecretReferencesPassThrough: Secrets Manager dynamic references in a
// function's environment reach the plan as written (the server resolves
// them when an environment starts), also inside Fn::Sub and next to text.
func TestSecretReferencesPassThrough(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: node
      Handler: index.handler
      Runtime: nodejs22.x
      Environment:
        Variables:
          A: "{{resolve:secretsmanager:db/password}}"
          B: "user={{resolve:secretsmanager:app:SecretString:user}};pw={{resolve:secretsmanager:app:SecretString:pw}}"
          C: !Sub "{{resolve:secretsmanager:${AWS::StackName}-key}}"
`)
	f := p.Resources[0].Function
	want := map[string]string{
		"A": "{{resolve:secretsmanager:db/password}}",
		"B": "user={{resolve:secretsmanager:app:SecretString:user}};pw={{resolve:secretsmanager:app:SecretString:pw}}",
		"C": "{{resolve:secretsmanager:app-key}}",
	}
	for k, v := range want {
		if f.Environment[k] != v {
			t.Errorf("Environment[%s] = %q, want %q", k, f.Environment[k], v)
		}
	}
}

// TestNoEchoChangeIsAnUpdate: a NoEcho parameter is shown as **** in the
// plan's parameters, but a changed value used by a resource still makes
// the diff update that resource (the stored plan keeps resolved values;
// the server seals stored plans).
func TestNoEchoChangeIsAnUpdate(t *testing.T) {
	src := `
Parameters:
  Pw:
    Type: String
    NoEcho: true
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: node
      Handler: index.handler
      Runtime: nodejs22.x
      Environment:
        Variables:
          PW: !Ref Pw
`
	a := mustPlan(t, src, withParams("Pw", "first-value"))
	b := mustPlan(t, src, withParams("Pw", "second-value"))
	if a.Parameters["Pw"] != noEcho {
		t.Errorf("plan parameters show %q", a.Parameters["Pw"])
	}
	c := Diff(a, b)
	if len(c.Update) != 1 {
		t.Errorf("Diff after a NoEcho change = %+v, want one update", c)
	}
	if c := Diff(a, mustPlan(t, src, withParams("Pw", "first-value"))); !c.Empty() {
		t.Errorf("Diff with the same NoEcho value = %+v, want none", c)
	}
	if strings.Contains(strings.Join(b.Warnings, " "), "second-value") {
		t.Error("a warning shows the NoEcho value")
	}
}
