package topic

import (
	"regexp"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

var (
	nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,256}$`)
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// arnPrefix starts the ARN of every topic of this installation.
const arnPrefix = "arn:aws:sns:" + lambda.Region + ":" + lambda.Account + ":"

// ValidName reports whether name is a valid standard topic name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// ARN returns the ARN of the topic named name.
func ARN(name string) string { return arnPrefix + name }

// NameFromARN returns the topic name an ARN of this installation's account and
// region names.
func NameFromARN(arn string) (string, bool) {
	name, ok := strings.CutPrefix(arn, arnPrefix)
	if !ok || !ValidName(name) {
		return "", false
	}
	return name, true
}

// SubscriptionARN returns the ARN of subscription id of the topic named topic.
func SubscriptionARN(topic, id string) string { return ARN(topic) + ":" + id }

// topicName parses a TopicArn parameter: malformed ARNs and ARNs of another
// region are InvalidParameter (param names the parameter), ARNs of another
// account or of no valid name are NotFound.
func topicName(arn, param string) (string, error) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || !strings.HasPrefix(p[1], "aws") || p[2] != "sns" || p[4] == "" {
		return "", invalid("%s", param)
	}
	if p[3] != lambda.Region {
		return "", invalid("%s", param)
	}
	if p[4] != lambda.Account || !ValidName(p[5]) {
		return "", errNoTopic()
	}
	return p[5], nil
}

// parseSubscriptionARN splits a subscription ARN into topic name and id.
func parseSubscriptionARN(arn string) (topic, id string, ok bool) {
	i := strings.LastIndexByte(arn, ':')
	if i < 0 {
		return "", "", false
	}
	topic, ok = NameFromARN(arn[:i])
	if !ok || !uuidRE.MatchString(arn[i+1:]) {
		return "", "", false
	}
	return topic, arn[i+1:], true
}
