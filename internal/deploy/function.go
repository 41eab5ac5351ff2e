package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-dev/nimbus/internal/template"
)

// latest is the unpublished version's qualifier.
const latest = "$LATEST"

// applyFunction creates or updates a function and everything that goes
// with it: code, configuration, reserved concurrency, a version and its
// alias (AutoPublishAlias), the alias's provisioned concurrency, the event
// invoke configuration and the function URL (urls.go). old is the
// function's previous definition, or nil. It returns once the function is
// Active and its provisioned concurrency (if any) READY.
func (a *applier) applyFunction(ctx context.Context, old, f *template.Function) error {
	d := a.d
	zip := a.packages[f.Name]
	if zip == nil {
		return fmt.Errorf("no deployment package was built for %s", f.Name)
	}
	cur, err := d.lambda.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(f.Name)})
	existed := err == nil
	switch {
	case isNotFound(err):
		if err := d.createFunction(ctx, f, zip); err != nil {
			return err
		}
	case err != nil:
		return describe(err)
	default:
		if err := d.updateFunction(ctx, cur.Configuration, f, zip); err != nil {
			return err
		}
	}
	if err := d.reservedConcurrency(ctx, f); err != nil {
		return err
	}
	qualifier := latest
	if f.Alias != nil {
		qualifier = f.Alias.Name
		shift, err := d.publishAlias(ctx, f)
		if err != nil {
			return err
		}
		if shift != nil && shift.Status != "Succeeded" {
			a.shifts = append(a.shifts, *shift)
		}
	}
	if f.EventInvokeConfig != nil {
		if err := d.putEventInvokeConfig(ctx, f.Name, qualifier, f.EventInvokeConfig); err != nil {
			return err
		}
	} else if existed {
		if err := d.deleteEventInvokeConfig(ctx, f.Name, qualifier); err != nil {
			return err
		}
	}
	if err := d.applyURL(ctx, f); err != nil {
		return err
	}
	if old != nil && old.Name == f.Name {
		a.cleanupFunction(old, f)
	}
	return nil
}

// cleanupFunction schedules the removal of what old had and f has not: an
// alias dropped or renamed (with its provisioned concurrency and event
// invoke configuration), an event invoke configuration on another qualifier.
func (a *applier) cleanupFunction(old, f *template.Function) {
	d, name := a.d, f.Name
	if old.Alias != nil && (f.Alias == nil || f.Alias.Name != old.Alias.Name) {
		alias := old.Alias.Name
		a.cleanup = append(a.cleanup, func(ctx context.Context) error {
			if err := d.deleteEventInvokeConfig(ctx, name, alias); err != nil {
				return err
			}
			_, err := d.lambda.DeleteProvisionedConcurrencyConfig(ctx, &awslambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String(name), Qualifier: aws.String(alias)})
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("removing provisioned concurrency of %s:%s: %w", name, alias, describe(err))
			}
			_, err = d.lambda.DeleteAlias(ctx, &awslambda.DeleteAliasInput{FunctionName: aws.String(name), Name: aws.String(alias)})
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("removing alias %s:%s: %w", name, alias, describe(err))
			}
			return nil
		})
	}
	if old.Alias == nil && f.Alias != nil && old.EventInvokeConfig != nil {
		// The configuration moved from $LATEST to the alias.
		a.cleanup = append(a.cleanup, func(ctx context.Context) error { return d.deleteEventInvokeConfig(ctx, name, latest) })
	}
	if old.URL != nil && old.URLQualifier() != f.URLQualifier() {
		q := old.URLQualifier()
		a.cleanup = append(a.cleanup, func(ctx context.Context) error { return d.deleteURL(ctx, name, q) })
	}
}

func role(name string) *string {
	return aws.String("arn:aws:iam::" + template.AccountID + ":role/" + name + "-role")
}

func (d *Deployer) createFunction(ctx context.Context, f *template.Function, zip []byte) error {
	in := &awslambda.CreateFunctionInput{
		FunctionName:     aws.String(f.Name),
		Runtime:          types.Runtime(f.Runtime),
		Role:             role(f.Name),
		Code:             &types.FunctionCode{ZipFile: zip},
		Description:      aws.String(f.Description),
		Timeout:          aws.Int32(int32(f.Timeout)),
		MemorySize:       aws.Int32(int32(f.MemorySize)),
		EphemeralStorage: &types.EphemeralStorage{Size: aws.Int32(int32(f.EphemeralStorage))},
	}
	if f.Handler != "" {
		in.Handler = aws.String(f.Handler)
	}
	for _, arch := range f.Architectures {
		in.Architectures = append(in.Architectures, types.Architecture(arch))
	}
	if len(f.Environment) > 0 {
		in.Environment = &types.Environment{Variables: f.Environment}
	}
	if f.DeadLetterTarget != "" {
		in.DeadLetterConfig = &types.DeadLetterConfig{TargetArn: aws.String(f.DeadLetterTarget)}
	}
	if _, err := d.lambda.CreateFunction(ctx, in); err != nil {
		return describe(err)
	}
	return d.waitFunction(ctx, f.Name)
}

// updateFunction changes the code if its hash differs, and the
// configuration if it differs, waiting for each update to finish.
func (d *Deployer) updateFunction(ctx context.Context, cur *types.FunctionConfiguration, f *template.Function, zip []byte) error {
	if cur == nil {
		return errors.New("the server answered GetFunction without a configuration")
	}
	// A previous update may still be under way.
	if err := d.waitFunction(ctx, f.Name); err != nil {
		return err
	}
	archs := make([]string, len(cur.Architectures))
	for i, a := range cur.Architectures {
		archs[i] = string(a)
	}
	sameArch := slices.Equal(archs, f.Architectures) || len(archs) == 0 && slices.Equal(f.Architectures, []string{"x86_64"})
	if aws.ToString(cur.CodeSha256) != f.CodeSHA256 || !sameArch {
		in := &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String(f.Name), ZipFile: zip}
		if !sameArch {
			for _, arch := range f.Architectures {
				in.Architectures = append(in.Architectures, types.Architecture(arch))
			}
		}
		if _, err := d.lambda.UpdateFunctionCode(ctx, in); err != nil {
			return describe(err)
		}
		if err := d.waitFunction(ctx, f.Name); err != nil {
			return err
		}
	}
	if in := configUpdate(cur, f); in != nil {
		if _, err := d.lambda.UpdateFunctionConfiguration(ctx, in); err != nil {
			return describe(err)
		}
		if err := d.waitFunction(ctx, f.Name); err != nil {
			return err
		}
	}
	return nil
}

// configUpdate returns the UpdateFunctionConfiguration that makes cur
// what f describes, or nil if they agree.
func configUpdate(cur *types.FunctionConfiguration, f *template.Function) *awslambda.UpdateFunctionConfigurationInput {
	in := &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f.Name)}
	changed := false
	if string(cur.Runtime) != f.Runtime {
		in.Runtime, changed = types.Runtime(f.Runtime), true
	}
	if aws.ToString(cur.Handler) != f.Handler {
		in.Handler, changed = aws.String(f.Handler), true
	}
	if aws.ToString(cur.Description) != f.Description {
		in.Description, changed = aws.String(f.Description), true
	}
	if int(aws.ToInt32(cur.Timeout)) != f.Timeout {
		in.Timeout, changed = aws.Int32(int32(f.Timeout)), true
	}
	if int(aws.ToInt32(cur.MemorySize)) != f.MemorySize {
		in.MemorySize, changed = aws.Int32(int32(f.MemorySize)), true
	}
	if cur.EphemeralStorage != nil && int(aws.ToInt32(cur.EphemeralStorage.Size)) != f.EphemeralStorage {
		in.EphemeralStorage, changed = &types.EphemeralStorage{Size: aws.Int32(int32(f.EphemeralStorage))}, true
	}
	var env map[string]string
	if cur.Environment != nil {
		env = cur.Environment.Variables
	}
	if !maps.Equal(env, f.Environment) {
		vars := f.Environment
		if vars == nil {
			vars = map[string]string{}
		}
		in.Environment, changed = &types.Environment{Variables: vars}, true
	}
	dlq := ""
	if cur.DeadLetterConfig != nil {
		dlq = aws.ToString(cur.DeadLetterConfig.TargetArn)
	}
	if dlq != f.DeadLetterTarget {
		in.DeadLetterConfig, changed = &types.DeadLetterConfig{TargetArn: aws.String(f.DeadLetterTarget)}, true
	}
	if !changed {
		return nil
	}
	return in
}

// waitFunction waits until a function is Active and not being updated.
// Unlike the SDK's waiters (a one-second first delay), it polls quickly at
// first: most functions are ready within milliseconds.
func (d *Deployer) waitFunction(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.WaitTimeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		c, err := d.lambda.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("function %s did not become Active within %s", name, d.cfg.WaitTimeout)
			}
			return describe(err)
		}
		switch {
		case c.State == types.StateFailed:
			return fmt.Errorf("function %s failed: %s %s", name, c.StateReasonCode, aws.ToString(c.StateReason))
		case c.LastUpdateStatus == types.LastUpdateStatusFailed:
			return fmt.Errorf("update of function %s failed: %s %s", name, c.LastUpdateStatusReasonCode, aws.ToString(c.LastUpdateStatusReason))
		case c.State == types.StateActive && c.LastUpdateStatus != types.LastUpdateStatusInProgress:
			return nil
		case c.State == types.StateInactive:
			return fmt.Errorf("function %s is Inactive", name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("function %s did not become Active within %s (state %s, last update %s)", name, d.cfg.WaitTimeout, c.State, c.LastUpdateStatus)
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

func (d *Deployer) reservedConcurrency(ctx context.Context, f *template.Function) error {
	cur, err := d.lambda.GetFunctionConcurrency(ctx, &awslambda.GetFunctionConcurrencyInput{FunctionName: aws.String(f.Name)})
	if err != nil {
		return fmt.Errorf("reading reserved concurrency: %w", describe(err))
	}
	switch want := f.ReservedConcurrency; {
	case want == nil && cur.ReservedConcurrentExecutions != nil:
		if _, err := d.lambda.DeleteFunctionConcurrency(ctx, &awslambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(f.Name)}); err != nil {
			return fmt.Errorf("removing reserved concurrency: %w", describe(err))
		}
	case want != nil && (cur.ReservedConcurrentExecutions == nil || int(*cur.ReservedConcurrentExecutions) != *want):
		if _, err := d.lambda.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String(f.Name), ReservedConcurrentExecutions: aws.Int32(int32(*want))}); err != nil {
			return fmt.Errorf("setting reserved concurrency: %w", describe(err))
		}
	}
	return nil
}

// publishAlias publishes a version of the function as it now is (Lambda
// returns the last version when nothing changed since) and points the alias
// at it, all of its traffic — or, when the alias exists and the function has
// a DeploymentPreference, starts a traffic shift on the server and returns
// it — then sets the alias's provisioned concurrency.
func (d *Deployer) publishAlias(ctx context.Context, f *template.Function) (shift *Shift, err error) {
	name, alias := aws.String(f.Name), aws.String(f.Alias.Name)
	v, err := d.lambda.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: name, CodeSha256: aws.String(f.CodeSHA256)})
	if err != nil {
		return nil, fmt.Errorf("publishing a version: %w", describe(err))
	}
	version := aws.ToString(v.Version)
	cur, err := d.lambda.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: name, Name: alias})
	switch {
	case isNotFound(err):
		if _, err := d.lambda.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: name, Name: alias, FunctionVersion: aws.String(version)}); err != nil {
			return nil, fmt.Errorf("creating alias %s: %w", f.Alias.Name, describe(err))
		}
	case err != nil:
		return nil, fmt.Errorf("reading alias %s: %w", f.Alias.Name, describe(err))
	case f.Alias.DeploymentPreference != nil && aws.ToString(cur.FunctionVersion) != version:
		// The server's shifter moves the alias (see package shift).
		s, err := d.startShift(ctx, f, aws.ToString(cur.FunctionVersion), version)
		if err != nil {
			return nil, err
		}
		shift = s
	case aws.ToString(cur.FunctionVersion) != version || cur.RoutingConfig != nil && len(cur.RoutingConfig.AdditionalVersionWeights) > 0:
		_, err := d.lambda.UpdateAlias(ctx, &awslambda.UpdateAliasInput{FunctionName: name, Name: alias, FunctionVersion: aws.String(version),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}})
		if err != nil {
			return nil, fmt.Errorf("pointing alias %s at version %s: %w", f.Alias.Name, version, describe(err))
		}
	}
	return shift, d.provisionedConcurrency(ctx, f)
}

func (d *Deployer) provisionedConcurrency(ctx context.Context, f *template.Function) error {
	name, alias := aws.String(f.Name), aws.String(f.Alias.Name)
	want := f.Alias.ProvisionedConcurrency
	cur, err := d.lambda.GetProvisionedConcurrencyConfig(ctx, &awslambda.GetProvisionedConcurrencyConfigInput{FunctionName: name, Qualifier: alias})
	switch {
	case err != nil && !isNotFound(err):
		return fmt.Errorf("reading provisioned concurrency: %w", describe(err))
	case want == 0 && err == nil:
		if _, err := d.lambda.DeleteProvisionedConcurrencyConfig(ctx, &awslambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: name, Qualifier: alias}); err != nil && !isNotFound(err) {
			return fmt.Errorf("removing provisioned concurrency: %w", describe(err))
		}
		return nil
	case want == 0:
		return nil
	case err != nil || int(aws.ToInt32(cur.RequestedProvisionedConcurrentExecutions)) != want:
		if _, err := d.lambda.PutProvisionedConcurrencyConfig(ctx, &awslambda.PutProvisionedConcurrencyConfigInput{FunctionName: name, Qualifier: alias,
			ProvisionedConcurrentExecutions: aws.Int32(int32(want))}); err != nil {
			return fmt.Errorf("setting provisioned concurrency: %w", describe(err))
		}
	}
	// Wait until the environments are up (also after the alias moved to a new version).
	ctx, cancel := context.WithTimeout(ctx, d.cfg.WaitTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		c, err := d.lambda.GetProvisionedConcurrencyConfig(ctx, &awslambda.GetProvisionedConcurrencyConfigInput{FunctionName: name, Qualifier: alias})
		switch {
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("reading provisioned concurrency: %w", describe(err))
		case err != nil:
		case c.Status == types.ProvisionedConcurrencyStatusEnumReady:
			return nil
		case c.Status == types.ProvisionedConcurrencyStatusEnumFailed:
			return fmt.Errorf("provisioned concurrency of %s:%s failed: %s", f.Name, f.Alias.Name, aws.ToString(c.StatusReason))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("provisioned concurrency of %s:%s not READY within %s", f.Name, f.Alias.Name, d.cfg.WaitTimeout)
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

func (d *Deployer) putEventInvokeConfig(ctx context.Context, name, qualifier string, c *template.EventInvokeConfig) error {
	in := &awslambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(name), Qualifier: aws.String(qualifier)}
	if c.MaximumRetryAttempts != nil {
		in.MaximumRetryAttempts = aws.Int32(int32(*c.MaximumRetryAttempts))
	}
	if c.MaximumEventAgeInSeconds != nil {
		in.MaximumEventAgeInSeconds = aws.Int32(int32(*c.MaximumEventAgeInSeconds))
	}
	if c.OnSuccess != "" || c.OnFailure != "" {
		in.DestinationConfig = &types.DestinationConfig{}
		if c.OnSuccess != "" {
			in.DestinationConfig.OnSuccess = &types.OnSuccess{Destination: aws.String(c.OnSuccess)}
		}
		if c.OnFailure != "" {
			in.DestinationConfig.OnFailure = &types.OnFailure{Destination: aws.String(c.OnFailure)}
		}
	}
	if _, err := d.lambda.PutFunctionEventInvokeConfig(ctx, in); err != nil {
		return fmt.Errorf("setting the event invoke configuration: %w", describe(err))
	}
	return nil
}

func (d *Deployer) deleteEventInvokeConfig(ctx context.Context, name, qualifier string) error {
	_, err := d.lambda.DeleteFunctionEventInvokeConfig(ctx, &awslambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String(name), Qualifier: aws.String(qualifier)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("removing the event invoke configuration of %s:%s: %w", name, qualifier, describe(err))
	}
	return nil
}

// functionLive reports whether a function (and its alias) exists and is
// Active.
func (d *Deployer) functionLive(ctx context.Context, f *template.Function) (bool, error) {
	c, err := d.lambda.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String(f.Name)})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, describe(err)
	}
	if c.State != types.StateActive || aws.ToString(c.CodeSha256) != f.CodeSHA256 {
		return false, nil
	}
	if f.Alias != nil {
		_, err := d.lambda.GetAlias(ctx, &awslambda.GetAliasInput{FunctionName: aws.String(f.Name), Name: aws.String(f.Alias.Name)})
		if isNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, describe(err)
		}
	}
	return d.urlLive(ctx, f)
}

func (d *Deployer) deleteFunction(ctx context.Context, name string) error {
	_, err := d.lambda.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	if err != nil && !isNotFound(err) {
		return describe(err)
	}
	return nil
}
