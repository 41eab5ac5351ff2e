package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/template"
)

// Queues.

func (d *Deployer) applyQueue(ctx context.Context, q *template.Queue) error {
	attrs := q.Attributes()
	url, err := d.queueURL(ctx, q.Name)
	if err != nil {
		return err
	}
	if url == "" {
		if attrs["RedrivePolicy"] == "" {
			delete(attrs, "RedrivePolicy")
		}
		if _, err := d.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.Name), Attributes: attrs}); err != nil {
			return describe(err)
		}
		return nil
	}
	if _, err := d.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs}); err != nil {
		return describe(err)
	}
	return nil
}

// queueURL returns a queue's URL, or "" if there is no such queue.
func (d *Deployer) queueURL(ctx context.Context, name string) (string, error) {
	out, err := d.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", describe(err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func (d *Deployer) queueExists(ctx context.Context, name string) (bool, error) {
	url, err := d.queueURL(ctx, name)
	return url != "", err
}

func (d *Deployer) deleteQueue(ctx context.Context, name string) error {
	url, err := d.queueURL(ctx, name)
	if err != nil || url == "" {
		return err
	}
	if _, err := d.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}); err != nil && !isNotFound(err) {
		return describe(err)
	}
	return nil
}

// Event source mappings.

// functionRef is the ARN of a function name or name:qualifier.
func functionRef(ref string) string {
	name, q, _ := strings.Cut(ref, ":")
	if q == "" {
		return lambda.FunctionARN(name)
	}
	return lambda.QualifiedARN(name, q)
}

// findMapping returns the mapping from m's source to m's function (exactly
// that qualifier), or nil.
func (d *Deployer) findMapping(ctx context.Context, m *template.EventSourceMapping) (*types.EventSourceMappingConfiguration, error) {
	name, _, _ := strings.Cut(m.FunctionName, ":")
	want := functionRef(m.FunctionName)
	p := awslambda.NewListEventSourceMappingsPaginator(d.lambda, &awslambda.ListEventSourceMappingsInput{FunctionName: aws.String(name), EventSourceArn: aws.String(m.EventSourceARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if isNotFound(err) {
			return nil, nil // no such function: no mapping
		}
		if err != nil {
			return nil, describe(err)
		}
		for i := range page.EventSourceMappings {
			c := &page.EventSourceMappings[i]
			if aws.ToString(c.FunctionArn) == want && aws.ToString(c.EventSourceArn) == m.EventSourceARN {
				return c, nil
			}
		}
	}
	return nil, nil
}

func responseTypes(m *template.EventSourceMapping) []types.FunctionResponseType {
	out := []types.FunctionResponseType{}
	for _, t := range m.FunctionResponseTypes {
		out = append(out, types.FunctionResponseType(t))
	}
	return out
}

func filterCriteria(m *template.EventSourceMapping) *types.FilterCriteria {
	if len(m.FilterPatterns) == 0 {
		return nil
	}
	fc := &types.FilterCriteria{}
	for _, p := range m.FilterPatterns {
		fc.Filters = append(fc.Filters, types.Filter{Pattern: aws.String(p)})
	}
	return fc
}

// applyMapping creates or updates a mapping. A mapping with filters is
// created disabled and enabled only once the server has shown it keeps the
// filters: a server that ignored them would deliver every message.
func (d *Deployer) applyMapping(ctx context.Context, m *template.EventSourceMapping) error {
	cur, err := d.findMapping(ctx, m)
	if err != nil {
		return err
	}
	var scaling *types.ScalingConfig
	if m.MaximumConcurrency > 0 {
		scaling = &types.ScalingConfig{MaximumConcurrency: aws.Int32(int32(m.MaximumConcurrency))}
	}
	filters := filterCriteria(m)
	var uuid string
	if cur == nil {
		out, err := d.lambda.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{
			EventSourceArn:                 aws.String(m.EventSourceARN),
			FunctionName:                   aws.String(m.FunctionName),
			BatchSize:                      aws.Int32(int32(m.BatchSize)),
			MaximumBatchingWindowInSeconds: aws.Int32(int32(m.MaximumBatchingWindowInSeconds)),
			FunctionResponseTypes:          responseTypes(m),
			ScalingConfig:                  scaling,
			FilterCriteria:                 filters,
			Enabled:                        aws.Bool(m.Enabled && filters == nil),
		})
		if err != nil {
			return describe(err)
		}
		uuid = aws.ToString(out.UUID)
		if filters != nil {
			if out.FilterCriteria == nil || len(out.FilterCriteria.Filters) != len(filters.Filters) {
				d.lambda.DeleteEventSourceMapping(ctx, &awslambda.DeleteEventSourceMappingInput{UUID: aws.String(uuid)})
				return fmt.Errorf("FilterCriteria: event filtering is not supported by this server yet (remove the filters to deploy)")
			}
			if m.Enabled {
				if _, err := d.lambda.UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{UUID: aws.String(uuid), Enabled: aws.Bool(true)}); err != nil {
					return describe(err)
				}
			}
		}
	} else {
		uuid = aws.ToString(cur.UUID)
		in := &awslambda.UpdateEventSourceMappingInput{
			UUID:                           aws.String(uuid),
			BatchSize:                      aws.Int32(int32(m.BatchSize)),
			MaximumBatchingWindowInSeconds: aws.Int32(int32(m.MaximumBatchingWindowInSeconds)),
			FunctionResponseTypes:          responseTypes(m),
			ScalingConfig:                  scaling,
			Enabled:                        aws.Bool(m.Enabled),
		}
		if scaling == nil && cur.ScalingConfig != nil && cur.ScalingConfig.MaximumConcurrency != nil {
			in.ScalingConfig = &types.ScalingConfig{}
		}
		if filters != nil || cur.FilterCriteria != nil && len(cur.FilterCriteria.Filters) > 0 {
			in.FilterCriteria = filters
			if in.FilterCriteria == nil {
				in.FilterCriteria = &types.FilterCriteria{Filters: []types.Filter{}}
			}
		}
		out, err := d.lambda.UpdateEventSourceMapping(ctx, in)
		if err != nil {
			return describe(err)
		}
		if filters != nil && (out.FilterCriteria == nil || len(out.FilterCriteria.Filters) != len(filters.Filters)) {
			return fmt.Errorf("FilterCriteria: event filtering is not supported by this server yet (remove the filters to deploy)")
		}
	}
	return d.waitMapping(ctx, uuid)
}

// waitMapping waits while a mapping is being created, enabled, updated or
// disabled.
func (d *Deployer) waitMapping(ctx context.Context, uuid string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.WaitTimeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		out, err := d.lambda.GetEventSourceMapping(ctx, &awslambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("event source mapping %s did not settle within %s", uuid, d.cfg.WaitTimeout)
			}
			return describe(err)
		}
		switch st := aws.ToString(out.State); st {
		case "Creating", "Enabling", "Updating", "Disabling":
		case "Enabled", "Disabled", "":
			return nil
		default:
			return fmt.Errorf("event source mapping %s is %s: %s", uuid, st, aws.ToString(out.StateTransitionReason))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("event source mapping %s did not settle within %s", uuid, d.cfg.WaitTimeout)
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func (d *Deployer) deleteMapping(ctx context.Context, m *template.EventSourceMapping) error {
	cur, err := d.findMapping(ctx, m)
	if err != nil || cur == nil {
		return err
	}
	if _, err := d.lambda.DeleteEventSourceMapping(ctx, &awslambda.DeleteEventSourceMappingInput{UUID: cur.UUID}); err != nil && !isNotFound(err) {
		return describe(err)
	}
	return nil
}

// Topics and subscriptions (SNS).

func (d *Deployer) applyTopic(ctx context.Context, t *template.Topic) error {
	out, err := d.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(t.Name)})
	if err != nil {
		return describe(err)
	}
	if got := aws.ToString(out.TopicArn); got != t.ARN {
		return fmt.Errorf("the server named topic %s %s, not %s", t.Name, got, t.ARN)
	}
	return nil
}

func (d *Deployer) topicExists(ctx context.Context, arn string) (bool, error) {
	_, err := d.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, describe(err)
}

func (d *Deployer) deleteTopic(ctx context.Context, arn string) error {
	if _, err := d.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil && !isNotFound(err) {
		return describe(err)
	}
	return nil
}

// findSubscription returns the ARN of the topic's subscription with s's
// protocol and endpoint, or "".
func (d *Deployer) findSubscription(ctx context.Context, s *template.Subscription) (string, error) {
	p := sns.NewListSubscriptionsByTopicPaginator(d.sns, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(s.TopicARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if isNotFound(err) {
			return "", nil
		}
		if err != nil {
			return "", describe(err)
		}
		for _, sub := range page.Subscriptions {
			if aws.ToString(sub.Protocol) == s.Protocol && aws.ToString(sub.Endpoint) == s.Endpoint {
				return aws.ToString(sub.SubscriptionArn), nil
			}
		}
	}
	return "", nil
}

func (d *Deployer) applySubscription(ctx context.Context, s *template.Subscription) error {
	arn, err := d.findSubscription(ctx, s)
	if err != nil {
		return err
	}
	attrs := map[string]string{}
	if len(s.FilterPolicy) > 0 {
		attrs["FilterPolicy"] = string(s.FilterPolicy)
	}
	if s.FilterPolicyScope != "" {
		attrs["FilterPolicyScope"] = s.FilterPolicyScope
	}
	if arn == "" {
		_, err := d.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(s.TopicARN), Protocol: aws.String(s.Protocol),
			Endpoint: aws.String(s.Endpoint), Attributes: attrs, ReturnSubscriptionArn: true})
		return describe(err)
	}
	cur, err := d.sns.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(arn)})
	if err != nil {
		return describe(err)
	}
	for _, k := range []string{"FilterPolicy", "FilterPolicyScope"} {
		want, has := attrs[k]
		if got := cur.Attributes[k]; got == want || !has && got == "" || k == "FilterPolicy" && jsonEqual(got, want) {
			continue
		}
		if _, err := d.sns.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: aws.String(arn),
			AttributeName: aws.String(k), AttributeValue: aws.String(want)}); err != nil {
			return describe(err)
		}
	}
	return nil
}

func (d *Deployer) deleteSubscription(ctx context.Context, s *template.Subscription) error {
	arn, err := d.findSubscription(ctx, s)
	if err != nil || arn == "" {
		return err
	}
	if _, err := d.sns.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(arn)}); err != nil && !isNotFound(err) {
		return describe(err)
	}
	return nil
}

// Schedules (EventBridge rules with one target).

func (d *Deployer) applySchedule(ctx context.Context, logicalID string, s *template.Schedule) error {
	state := ebtypes.RuleStateEnabled
	if !s.Enabled {
		state = ebtypes.RuleStateDisabled
	}
	if _, err := d.events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(s.Name), ScheduleExpression: aws.String(s.Expression), State: state}); err != nil {
		return describe(err)
	}
	target := ebtypes.Target{Id: aws.String(targetID(logicalID)), Arn: aws.String(s.Target)}
	if s.Input != "" {
		target.Input = aws.String(s.Input)
	}
	out, err := d.events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(s.Name), Targets: []ebtypes.Target{target}})
	if err != nil {
		return describe(err)
	}
	if out.FailedEntryCount > 0 && len(out.FailedEntries) > 0 {
		f := out.FailedEntries[0]
		return fmt.Errorf("target %s: %s %s", s.Target, aws.ToString(f.ErrorCode), aws.ToString(f.ErrorMessage))
	}
	return d.removeTargets(ctx, s.Name, targetID(logicalID))
}

// targetID is a schedule's target id, as SAM names it.
func targetID(logicalID string) string {
	id := logicalID + "Target"
	if len(id) > 64 {
		id = id[:64]
	}
	return id
}

// removeTargets removes a rule's targets other than keep ("" removes all).
func (d *Deployer) removeTargets(ctx context.Context, rule, keep string) error {
	out, err := d.events.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String(rule)})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return describe(err)
	}
	var ids []string
	for _, t := range out.Targets {
		if id := aws.ToString(t.Id); id != keep {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = d.events.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(rule), Ids: ids})
	if err != nil && !isNotFound(err) {
		return describe(err)
	}
	return nil
}

func (d *Deployer) ruleExists(ctx context.Context, name string) (bool, error) {
	_, err := d.events.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(name)})
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, describe(err)
}

func (d *Deployer) deleteRule(ctx context.Context, name string) error {
	if err := d.removeTargets(ctx, name, ""); err != nil {
		return err
	}
	if _, err := d.events.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(name)}); err != nil && !isNotFound(err) {
		return describe(err)
	}
	return nil
}

// State machines (Step Functions).

func (d *Deployer) applyStateMachine(ctx context.Context, sm *template.StateMachine) error {
	cur, err := d.sfn.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(sm.ARN)})
	switch {
	case isNotFound(err):
	case err != nil:
		return describe(err)
	case string(cur.Type) != sm.Type:
		// The type cannot be changed in place.
		if err := d.deleteStateMachine(ctx, sm.ARN); err != nil {
			return err
		}
	default:
		if jsonEqual(aws.ToString(cur.Definition), string(sm.Definition)) {
			return nil
		}
		_, err := d.sfn.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: aws.String(sm.ARN), Definition: aws.String(string(sm.Definition))})
		return describe(err)
	}
	out, err := d.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(sm.Name), Definition: aws.String(string(sm.Definition)),
		RoleArn: role(sm.Name), Type: sfntypes.StateMachineType(sm.Type)})
	if err != nil {
		return describe(err)
	}
	if got := aws.ToString(out.StateMachineArn); got != sm.ARN {
		return fmt.Errorf("the server named state machine %s %s, not %s", sm.Name, got, sm.ARN)
	}
	return nil
}

func (d *Deployer) stateMachineExists(ctx context.Context, arn string) (bool, error) {
	_, err := d.sfn.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(arn)})
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, describe(err)
}

func (d *Deployer) deleteStateMachine(ctx context.Context, arn string) error {
	if _, err := d.sfn.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: aws.String(arn)}); err != nil && !isNotFound(err) {
		return describe(err)
	}
	return nil
}

// jsonEqual compares two JSON texts by value ("" equals "").
func jsonEqual(a, b string) bool {
	if a == b {
		return true
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
