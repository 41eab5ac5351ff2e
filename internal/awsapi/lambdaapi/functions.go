package lambdaapi

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
)

// configInput holds the configuration fields shared by CreateFunction and
// UpdateFunctionConfiguration; nil means "not given".
type configInput struct {
	Runtime          *string                  `json:"Runtime"`
	Role             *string                  `json:"Role"`
	Handler          *string                  `json:"Handler"`
	Description      *string                  `json:"Description"`
	Timeout          *int                     `json:"Timeout"`
	MemorySize       *int                     `json:"MemorySize"`
	Environment      *lambda.Environment      `json:"Environment"`
	DeadLetterConfig *lambda.DeadLetterConfig `json:"DeadLetterConfig"`
	TracingConfig    *lambda.TracingConfig    `json:"TracingConfig"`
	EphemeralStorage *lambda.EphemeralStorage `json:"EphemeralStorage"`
	Layers           []string                 `json:"Layers"`
	RevisionId       string                   `json:"RevisionId"`
}

type createInput struct {
	configInput
	FunctionName  string   `json:"FunctionName"`
	PackageType   string   `json:"PackageType"`
	Publish       bool     `json:"Publish"`
	Architectures []string `json:"Architectures"`
	Code          struct {
		ZipFile  []byte `json:"ZipFile"`
		S3Bucket string `json:"S3Bucket"`
		S3Key    string `json:"S3Key"`
		ImageUri string `json:"ImageUri"`
	} `json:"Code"`
}

var (
	roleRE    = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	envKeyRE  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]+$`)
	handlerRE = regexp.MustCompile(`^[^\s]+$`)
	// Environment variables Lambda reserves for itself.
	reservedEnv = []string{"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
		"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
		"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}
)

// apply validates in and applies it to cfg.
func (a *API) apply(cfg *lambda.Config, in *configInput) error {
	if in.Role != nil {
		if !roleRE.MatchString(*in.Role) {
			return lambda.Validation("1 validation error detected: Value '%s' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+", *in.Role)
		}
		cfg.Role = *in.Role
	}
	if in.Runtime != nil {
		if err := a.runtimes.Validate(*in.Runtime); err != nil {
			return err
		}
		cfg.Runtime = *in.Runtime
	}
	if in.Handler != nil {
		if len(*in.Handler) > 128 || !handlerRE.MatchString(*in.Handler) {
			return lambda.Validation("1 validation error detected: Value '%s' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+", *in.Handler)
		}
		cfg.Handler = *in.Handler
	}
	if in.Description != nil {
		if len(*in.Description) > 256 {
			return lambda.Validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256")
		}
		cfg.Description = *in.Description
	}
	if in.Timeout != nil {
		if *in.Timeout < 1 || *in.Timeout > 900 {
			return lambda.InvalidParameter("1 validation error detected: Value '%d' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 900", *in.Timeout)
		}
		cfg.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		if *in.MemorySize < 128 || *in.MemorySize > 10240 {
			return lambda.InvalidParameter("1 validation error detected: Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240", *in.MemorySize)
		}
		cfg.MemorySize = *in.MemorySize
	}
	if in.EphemeralStorage != nil {
		if in.EphemeralStorage.Size < 512 || in.EphemeralStorage.Size > 10240 {
			return lambda.InvalidParameter("1 validation error detected: Value '%d' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value between 512 and 10240", in.EphemeralStorage.Size)
		}
		cfg.EphemeralStorage = *in.EphemeralStorage
	}
	if in.Environment != nil {
		if err := validateEnv(in.Environment.Variables); err != nil {
			return err
		}
		if len(in.Environment.Variables) == 0 {
			cfg.Environment = nil
		} else {
			cfg.Environment = &lambda.Environment{Variables: in.Environment.Variables}
		}
	}
	if in.DeadLetterConfig != nil {
		if in.DeadLetterConfig.TargetArn == "" {
			cfg.DeadLetterConfig = nil
		} else {
			cfg.DeadLetterConfig = in.DeadLetterConfig
		}
	}
	if in.TracingConfig != nil {
		if m := in.TracingConfig.Mode; m != "Active" && m != "PassThrough" {
			return lambda.InvalidParameter("1 validation error detected: Value '%s' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]", m)
		}
		cfg.TracingConfig = *in.TracingConfig
	}
	if len(in.Layers) > 0 {
		return lambda.InvalidParameter("Layers are not supported by nimbus yet")
	}
	if cfg.Runtime == "" || cfg.Handler == "" {
		return lambda.InvalidParameter("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
	}
	return nil
}

func validateEnv(vars map[string]string) error {
	size := 0
	var reserved []string
	for k, v := range vars {
		if !envKeyRE.MatchString(k) {
			return lambda.InvalidParameter("1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")
		}
		if slices.Contains(reservedEnv, k) {
			reserved = append(reserved, k)
		}
		size += len(k) + len(v)
	}
	if len(reserved) > 0 {
		slices.Sort(reserved)
		return lambda.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", strings.Join(reserved, ", "))
	}
	if size > lambda.MaxEnvBytes {
		return lambda.InvalidParameter("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d bytes", size)
	}
	return nil
}

func now() string { return time.Now().UTC().Format(lambda.TimeFormat) }

func (a *API) createFunction(r *http.Request) (int, any, error) {
	var in createInput
	if err := decode(r, MaxCreateBody, &in); err != nil {
		return 0, nil, err
	}
	if !lambda.ValidName(in.FunctionName) {
		return 0, nil, lambda.Validation("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ and have length between 1 and 64", in.FunctionName)
	}
	if in.Role == nil {
		return 0, nil, lambda.Validation("1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null")
	}
	if in.PackageType == "Image" || in.Code.ImageUri != "" {
		return 0, nil, lambda.InvalidParameter("PackageType Image is not supported by nimbus yet; deploy a .zip package")
	}
	if in.PackageType != "" && in.PackageType != "Zip" {
		return 0, nil, lambda.Validation("1 validation error detected: Value '%s' at 'packageType' failed to satisfy constraint: Member must satisfy enum value set: [Zip, Image]", in.PackageType)
	}
	if in.Code.S3Bucket != "" || in.Code.S3Key != "" {
		return 0, nil, lambda.InvalidParameter("Code from S3 is not supported by nimbus yet; pass Code.ZipFile")
	}
	if len(in.Code.ZipFile) == 0 {
		return 0, nil, lambda.InvalidParameter("Please provide a source for function code.")
	}
	for _, arch := range in.Architectures {
		if arch != "x86_64" {
			return 0, nil, lambda.InvalidParameter("Architecture %s is not supported on this nimbus server (x86_64)", arch)
		}
	}
	if _, ok := a.reg.Get(in.FunctionName); ok {
		return 0, nil, lambda.Conflict("Function already exist: %s", in.FunctionName)
	}
	cfg := lambda.Config{
		FunctionName:     in.FunctionName,
		FunctionArn:      lambda.FunctionARN(in.FunctionName),
		Timeout:          lambda.DefaultTimeout,
		MemorySize:       lambda.DefaultMemory,
		Version:          lambda.Latest,
		TracingConfig:    lambda.TracingConfig{Mode: "PassThrough"},
		PackageType:      "Zip",
		Architectures:    []string{"x86_64"},
		EphemeralStorage: lambda.EphemeralStorage{Size: lambda.DefaultEphemeral},
		LoggingConfig:    lambda.LoggingConfig{LogFormat: "Text", LogGroup: lambda.LogGroup(in.FunctionName)},
		SnapStart:        lambda.SnapStart{ApplyOn: "None", OptimizationStatus: "Off"},
		State:            lambda.StateActive,
		LastUpdateStatus: lambda.UpdateSuccessful,
	}
	if err := a.apply(&cfg, &in.configInput); err != nil {
		return 0, nil, err
	}
	code, err := a.code.Put(r.Context(), in.Code.ZipFile)
	if err != nil {
		return 0, nil, err
	}
	cfg.CodeSha256, cfg.CodeSize = code.Sha256, code.Size
	cfg.LastModified = now()
	cfg.RevisionId = lambda.NewRequestID()
	fn := &registry.Function{Latest: cfg}
	out := &fn.Latest
	if in.Publish {
		out = publish(fn, "")
	}
	if err := a.reg.Create(r.Context(), fn); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, out, nil
}

// publish appends a version snapshot of fn's $LATEST unless the newest version
// already has the same code and configuration; it returns that version.
func publish(fn *registry.Function, description string) *lambda.Config {
	if n := len(fn.Versions); n > 0 && sameAsLatest(&fn.Versions[n-1], &fn.Latest) {
		return &fn.Versions[n-1]
	}
	fn.LastVersion++
	v := fn.Latest
	v.Version = itoa(fn.LastVersion)
	v.FunctionArn = lambda.QualifiedARN(v.FunctionName, v.Version)
	v.RevisionId = lambda.NewRequestID()
	v.LastModified = now()
	if description != "" {
		v.Description = description
	}
	fn.Latest.RevisionId = lambda.NewRequestID()
	fn.Versions = append(fn.Versions, v)
	return &fn.Versions[len(fn.Versions)-1]
}

// sameAsLatest compares what a version snapshots: code and configuration.
func sameAsLatest(v, latest *lambda.Config) bool {
	a, b := *v, *latest
	a.Version, a.FunctionArn, a.RevisionId, a.LastModified, a.Description = "", "", "", "", ""
	b.Version, b.FunctionArn, b.RevisionId, b.LastModified, b.Description = "", "", "", "", ""
	return equalJSON(&a, &b)
}

func checkRevision(cfg *lambda.Config, want string) error {
	if want != "" && want != cfg.RevisionId {
		return lambda.PreconditionFailed("The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
	}
	return nil
}

func (a *API) updateFunctionConfiguration(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	if q != "" && q != lambda.Latest {
		return 0, nil, lambda.InvalidParameter("Only the $LATEST version can be updated")
	}
	var in configInput
	if err := decode(r, 1<<20, &in); err != nil {
		return 0, nil, err
	}
	name := fn.Latest.FunctionName
	stored, err := a.reg.Update(r.Context(), name, func(fn *registry.Function) error {
		if err := checkRevision(&fn.Latest, in.RevisionId); err != nil {
			return err
		}
		if err := a.apply(&fn.Latest, &in); err != nil {
			return err
		}
		fn.Latest.LastModified = now()
		fn.Latest.RevisionId = lambda.NewRequestID()
		fn.Latest.LastUpdateStatus = lambda.UpdateSuccessful
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	a.sched.Retire(name)
	return http.StatusOK, &stored.Latest, nil
}

func (a *API) updateFunctionCode(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		ZipFile       []byte   `json:"ZipFile"`
		S3Bucket      string   `json:"S3Bucket"`
		S3Key         string   `json:"S3Key"`
		ImageUri      string   `json:"ImageUri"`
		Publish       bool     `json:"Publish"`
		DryRun        bool     `json:"DryRun"`
		RevisionId    string   `json:"RevisionId"`
		Architectures []string `json:"Architectures"`
	}
	if err := decode(r, MaxCreateBody, &in); err != nil {
		return 0, nil, err
	}
	if in.ImageUri != "" || in.S3Bucket != "" || in.S3Key != "" {
		return 0, nil, lambda.InvalidParameter("Only Code.ZipFile is supported by nimbus yet")
	}
	if len(in.ZipFile) == 0 {
		return 0, nil, lambda.InvalidParameter("Please provide a source for function code.")
	}
	for _, arch := range in.Architectures {
		if arch != "x86_64" {
			return 0, nil, lambda.InvalidParameter("Architecture %s is not supported on this nimbus server (x86_64)", arch)
		}
	}
	if err := checkRevision(&fn.Latest, in.RevisionId); err != nil {
		return 0, nil, err
	}
	code, err := a.code.Put(r.Context(), in.ZipFile)
	if err != nil {
		return 0, nil, err
	}
	if in.DryRun {
		cfg := fn.Latest
		cfg.CodeSha256, cfg.CodeSize = code.Sha256, code.Size
		return http.StatusOK, &cfg, nil
	}
	name := fn.Latest.FunctionName
	var out *lambda.Config
	stored, err := a.reg.Update(r.Context(), name, func(fn *registry.Function) error {
		if err := checkRevision(&fn.Latest, in.RevisionId); err != nil {
			return err
		}
		fn.Latest.CodeSha256, fn.Latest.CodeSize = code.Sha256, code.Size
		fn.Latest.LastModified = now()
		fn.Latest.RevisionId = lambda.NewRequestID()
		fn.Latest.LastUpdateStatus = lambda.UpdateSuccessful
		out = &fn.Latest
		if in.Publish {
			out = publish(fn, "")
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	a.sched.Retire(name)
	if in.Publish {
		return http.StatusOK, &stored.Versions[len(stored.Versions)-1], nil
	}
	_ = out
	return http.StatusOK, &stored.Latest, nil
}

func (a *API) publishVersion(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		CodeSha256  string `json:"CodeSha256"`
		Description string `json:"Description"`
		RevisionId  string `json:"RevisionId"`
	}
	if err := decode(r, 1<<20, &in); err != nil {
		return 0, nil, err
	}
	var version string
	stored, err := a.reg.Update(r.Context(), fn.Latest.FunctionName, func(fn *registry.Function) error {
		if err := checkRevision(&fn.Latest, in.RevisionId); err != nil {
			return err
		}
		if in.CodeSha256 != "" && in.CodeSha256 != fn.Latest.CodeSha256 {
			return lambda.InvalidParameter("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", in.CodeSha256, fn.Latest.CodeSha256)
		}
		version = publish(fn, in.Description).Version
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	v, _ := stored.Version(version)
	return http.StatusCreated, v, nil
}

func (a *API) deleteFunction(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	name := fn.Latest.FunctionName
	if q == "" {
		if err := a.reg.Delete(r.Context(), name); err != nil {
			return 0, nil, err
		}
		a.sched.Retire(name)
		a.limiter.Forget(name)
		a.invoke.Reconcile()
		return http.StatusNoContent, nil, nil
	}
	if q == lambda.Latest {
		return 0, nil, lambda.InvalidParameter("$LATEST version cannot be deleted without deleting the function.")
	}
	_, err = a.reg.Update(r.Context(), name, func(fn *registry.Function) error {
		i := slices.IndexFunc(fn.Versions, func(c lambda.Config) bool { return c.Version == q })
		if i < 0 {
			return lambda.NotFound("Function not found: %s", lambda.QualifiedARN(name, q))
		}
		for alias, al := range fn.Aliases {
			if al.FunctionVersion == q || al.RoutingConfig != nil && al.RoutingConfig.AdditionalVersionWeights[q] > 0 {
				return lambda.Conflict("Unable to delete version because the following aliases reference it: [%s]", alias)
			}
		}
		fn.Versions = slices.Delete(fn.Versions, i, i+1)
		delete(fn.Provisioned, q)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	a.sched.Retire(name)
	a.invoke.Reconcile()
	return http.StatusNoContent, nil, nil
}
