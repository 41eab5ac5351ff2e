package asl

import (
	"errors"
	"strings"
)

// ResourceKind classifies a Task's Resource.
type ResourceKind uint8

// Resource kinds.
const (
	ResourceLambda   ResourceKind = iota + 1 // arn:aws:lambda:…:function:NAME
	ResourceActivity                         // arn:aws:states:…:activity:NAME
	ResourceService                          // arn:aws:states:::SERVICE:ACTION (optimized integration)
	ResourceSDK                              // arn:aws:states:::aws-sdk:SERVICE:ACTION
)

// Integration patterns.
const (
	PatternRequestResponse = ""
	PatternSync            = ".sync"
	PatternSync2           = ".sync:2"
	PatternCallback        = ".waitForTaskToken"
)

// Resource is a parsed Task resource ARN.
type Resource struct {
	ARN       string
	Kind      ResourceKind
	Partition string
	Region    string
	Account   string
	Service   string // lambda, states, sqs, … (ResourceService, ResourceSDK)
	Action    string // invoke, startExecution, … (ResourceService, ResourceSDK)
	Pattern   string // PatternSync, PatternSync2, PatternCallback or ""
	Function  string // ResourceLambda: function name, with a ":qualifier" if given
	Name      string // ResourceActivity: activity name
}

// optimized lists the optimized service integrations and their actions.
var optimized = map[string][]string{
	"lambda":           {"invoke"},
	"states":           {"startExecution"},
	"sqs":              {"sendMessage"},
	"sns":              {"publish"},
	"dynamodb":         {"getItem", "putItem", "deleteItem", "updateItem"},
	"events":           {"putEvents"},
	"apigateway":       {"invoke"},
	"http":             {"invoke"},
	"ecs":              {"runTask"},
	"batch":            {"submitJob"},
	"glue":             {"startJobRun"},
	"databrew":         {"startJobRun"},
	"athena":           {"startQueryExecution", "stopQueryExecution", "getQueryExecution", "getQueryResults"},
	"codebuild":        {"startBuild", "stopBuild", "batchDeleteBuilds", "batchGetReports", "startBuildBatch", "retryBuild", "retryBuildBatch", "stopBuildBatch"},
	"eks":              {"createCluster", "deleteCluster", "createFargateProfile", "deleteFargateProfile", "createNodegroup", "deleteNodegroup", "runJob", "call"},
	"elasticmapreduce": {"createCluster", "terminateCluster", "addStep", "cancelStep", "setClusterTerminationProtection", "modifyInstanceFleetByName", "modifyInstanceGroupByName"},
	"emr-containers":   {"startJobRun", "createVirtualCluster", "deleteVirtualCluster"},
	"emr-serverless":   {"createApplication", "startApplication", "stopApplication", "deleteApplication", "startJobRun", "cancelJobRun"},
	"sagemaker":        {"createTrainingJob", "createTransformJob", "createEndpoint", "createEndpointConfig", "createHyperParameterTuningJob", "createLabelingJob", "createModel", "createProcessingJob", "updateEndpoint"},
	"mediaconvert":     {"createJob"},
	"bedrock":          {"invokeModel", "createModelCustomizationJob"},
	"s3":               {"getObject", "listObjectsV2"},
	"evidently":        {"evaluateFeature"},
}

var errResource = errors.New("unrecognized resource")

func validPartition(p string) bool { return p == "aws" || p == "aws-cn" || p == "aws-us-gov" }

// ParseResource parses a Task resource ARN.
func ParseResource(arn string) (Resource, error) {
	r := Resource{ARN: arn}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" || !validPartition(parts[1]) {
		return r, errResource
	}
	r.Partition, r.Region, r.Account = parts[1], parts[3], parts[4]
	switch parts[2] {
	case "lambda":
		rest, ok := strings.CutPrefix(parts[5], "function:")
		if !ok || rest == "" || r.Region == "" || r.Account == "" {
			return r, errResource
		}
		r.Kind, r.Service, r.Function = ResourceLambda, "lambda", rest
		return r, nil
	case "states":
	default:
		return r, errResource
	}
	if r.Region != "" || r.Account != "" {
		name, ok := strings.CutPrefix(parts[5], "activity:")
		if !ok || name == "" {
			return r, errResource
		}
		r.Kind, r.Name = ResourceActivity, name
		return r, nil
	}
	spec := parts[5]
	for _, p := range []string{PatternSync2, PatternSync, PatternCallback} {
		if s, ok := strings.CutSuffix(spec, p); ok {
			spec, r.Pattern = s, p
			break
		}
	}
	if sdk, ok := strings.CutPrefix(spec, "aws-sdk:"); ok {
		svc, action, ok := strings.Cut(sdk, ":")
		if !ok || svc == "" || action == "" || r.Pattern == PatternSync || r.Pattern == PatternSync2 {
			return r, errResource
		}
		r.Kind, r.Service, r.Action = ResourceSDK, svc, action
		return r, nil
	}
	svc, action, ok := strings.Cut(spec, ":")
	if !ok {
		return r, errResource
	}
	actions, known := optimized[svc]
	found := false
	for _, a := range actions {
		if a == action {
			found = true
		}
	}
	if !known || !found {
		return r, errResource
	}
	r.Kind, r.Service, r.Action = ResourceService, svc, action
	return r, nil
}
