package template

import (
	"encoding/json"
	"reflect"
	"testing"
)

const diffBase = `
Parameters:
  Timeout: {Type: Number, Default: 3}
  QueueName: {Type: String, Default: jobs}
  WithTopic: {Type: String, Default: "yes"}
Conditions:
  HasTopic: !Equals [!Ref WithTopic, "yes"]
Resources:
  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Ref QueueName}}
  T: {Type: AWS::SNS::Topic, Condition: HasTopic}
  Fn:` + nodeFn + `      Timeout: !Ref Timeout
      Events:
        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}
        Get: {Type: HttpApi, Properties: {Path: /, Method: GET}}
`

func changeIDs(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.LogicalID)
	}
	return out
}

func TestDiff(t *testing.T) {
	base := mustPlan(t, diffBase)
	tests := []struct {
		name                   string
		next                   *Plan
		create, update, delete []string
		replace                []string
		unchanged              int
	}{
		{name: "first deploy", next: base, create: []string{"Q", "T", "Fn", "FnJobs", "ServerlessHttpApi"}},
		{name: "same template", next: mustPlan(t, diffBase), unchanged: 5},
		{name: "function setting", next: mustPlan(t, diffBase, withParams("Timeout", "30")), update: []string{"Fn"}, unchanged: 4},
		{name: "queue renamed", next: mustPlan(t, diffBase, withParams("QueueName", "work")),
			update: []string{"Q", "FnJobs"}, replace: []string{"Q", "FnJobs"}, unchanged: 3},
		{name: "topic removed", next: mustPlan(t, diffBase, withParams("WithTopic", "no")), delete: []string{"T"}, unchanged: 4},
	}
	for _, tt := range tests {
		prev := base
		if tt.name == "first deploy" {
			prev = nil
		}
		c := Diff(prev, tt.next)
		var replaced []string
		for _, u := range c.Update {
			if u.Replace {
				replaced = append(replaced, u.LogicalID)
			}
			if u.Old == nil || u.New == nil || u.Old.LogicalID != u.LogicalID {
				t.Errorf("%s: update %s lacks Old/New", tt.name, u.LogicalID)
			}
		}
		if !reflect.DeepEqual(changeIDs(c.Create), tt.create) || !reflect.DeepEqual(changeIDs(c.Update), tt.update) ||
			!reflect.DeepEqual(changeIDs(c.Delete), tt.delete) || !reflect.DeepEqual(replaced, tt.replace) || len(c.Unchanged) != tt.unchanged {
			t.Errorf("%s: create %v update %v (replace %v) delete %v unchanged %v", tt.name,
				changeIDs(c.Create), changeIDs(c.Update), replaced, changeIDs(c.Delete), c.Unchanged)
		}
		if c.Empty() != (tt.unchanged == 5) {
			t.Errorf("%s: Empty() = %v", tt.name, c.Empty())
		}
	}
}

func TestDiffCode(t *testing.T) {
	a, b := mustPlan(t, diffBase), mustPlan(t, diffBase)
	for _, p := range []*Plan{a, b} {
		p.Resource("Fn").Function.CodeSHA256 = "aaa="
	}
	if c := Diff(a, b); !c.Empty() {
		t.Errorf("same code: %+v", c)
	}
	b.Resource("Fn").Function.CodeSHA256 = "bbb="
	if c := Diff(a, b); !reflect.DeepEqual(changeIDs(c.Update), []string{"Fn"}) || c.Update[0].Replace {
		t.Errorf("new code: %+v", c)
	}
}

// A stored plan (JSON) diffs like the plan it was made from.
func TestDiffStoredPlan(t *testing.T) {
	p := mustPlan(t, diffBase)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var stored Plan
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if c := Diff(&stored, mustPlan(t, diffBase)); !c.Empty() {
		t.Errorf("stored plan differs: %+v", c)
	}
}

func TestDiffDeleteOrder(t *testing.T) {
	p := mustPlan(t, diffBase)
	c := Diff(p, &Plan{})
	if want := []string{"ServerlessHttpApi", "FnJobs", "Fn", "T", "Q"}; !reflect.DeepEqual(changeIDs(c.Delete), want) {
		t.Errorf("deletes %v, want %v (dependents first)", changeIDs(c.Delete), want)
	}
	if c := Diff(nil, nil); !c.Empty() {
		t.Errorf("Diff(nil, nil) = %+v", c)
	}
}

func TestDiffRetain(t *testing.T) {
	prev := mustPlan(t, "Resources:\n  Keep: {Type: AWS::SQS::Queue, DeletionPolicy: Retain}\n  Drop: {Type: AWS::SQS::Queue, DeletionPolicy: Delete}\n")
	if !mustResource(t, prev, "Keep").Retain || mustResource(t, prev, "Drop").Retain {
		t.Fatalf("Retain flags: %+v", prev.Resources)
	}
	c := Diff(prev, mustPlan(t, "Resources:\n  Other: {Type: AWS::SNS::Topic}\n"))
	if !reflect.DeepEqual(changeIDs(c.Retain), []string{"Keep"}) || !reflect.DeepEqual(changeIDs(c.Delete), []string{"Drop"}) {
		t.Errorf("retain %v delete %v", changeIDs(c.Retain), changeIDs(c.Delete))
	}
	if _, err := planOf(t, "Resources:\n  Q: {Type: AWS::SQS::Queue, DeletionPolicy: Keep}\n"); err == nil {
		t.Errorf("DeletionPolicy Keep accepted")
	}
}
