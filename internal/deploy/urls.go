package deploy

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/template"
)

// Function URLs (FunctionUrlConfig). A function's URL belongs to its alias
// if it has one, else to $LATEST (template.Function.URLQualifier). Applying
// a function upserts its URL with GetFunctionUrlConfig, then
// CreateFunctionUrlConfig or UpdateFunctionUrlConfig when it differs, and
// deletes the URL of the qualifier when the template has none; a URL left
// on another qualifier (the alias was added or renamed) is deleted with the
// cleanups. Deleting a function (or its alias) deletes its URL on the server.

// FunctionURL is a deployed function URL.
type FunctionURL struct {
	Function  string
	Qualifier string // an alias or $LATEST
	AuthType  string
	// URL is the URL by host (http://<url-id>.lambda-url.localhost:<port>/)
	// and PathURL the same by path on the gateway's address
	// (<gateway>/lambda-url/<url-id>/); empty when the gateway's address is
	// unknown.
	URL, PathURL string
}

// functionURLs lists the plan's function URLs on the gateway at base.
func functionURLs(plan *template.Plan, base string) []FunctionURL {
	var out []FunctionURL
	for _, f := range plan.Functions() {
		if f.URL == nil {
			continue
		}
		q := f.URLQualifier()
		u := FunctionURL{Function: f.Name, Qualifier: q, AuthType: f.URL.AuthType}
		id := lambda.FunctionURLID(f.Name, q)
		if b, err := url.Parse(base); err == nil && b.Port() != "" {
			u.URL = "http://" + id + "." + lambda.FunctionURLDomain + ":" + b.Port() + "/"
			u.PathURL = base + "/lambda-url/" + id + "/"
		}
		out = append(out, u)
	}
	return out
}

// applyURL makes the function's URL (on its qualifier) what f says.
func (d *Deployer) applyURL(ctx context.Context, f *template.Function) error {
	q := f.URLQualifier()
	cur, err := d.lambda.GetFunctionUrlConfig(ctx, &awslambda.GetFunctionUrlConfigInput{FunctionName: aws.String(f.Name), Qualifier: qualifier(q)})
	switch {
	case err != nil && !isNotFound(err):
		return fmt.Errorf("reading the function URL: %w", describe(err))
	case f.URL == nil && err == nil:
		return d.deleteURL(ctx, f.Name, q)
	case f.URL == nil:
		return nil
	case err != nil:
		_, err := d.lambda.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{FunctionName: aws.String(f.Name), Qualifier: qualifier(q),
			AuthType: types.FunctionUrlAuthType(f.URL.AuthType), InvokeMode: types.InvokeMode(f.URL.InvokeMode), Cors: sdkCors(f.URL.Cors)})
		if err != nil {
			return fmt.Errorf("creating the function URL: %w", describe(err))
		}
	case !sameURL(cur, f.URL):
		_, err := d.lambda.UpdateFunctionUrlConfig(ctx, &awslambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String(f.Name), Qualifier: qualifier(q),
			AuthType: types.FunctionUrlAuthType(f.URL.AuthType), InvokeMode: types.InvokeMode(f.URL.InvokeMode), Cors: orNoCors(sdkCors(f.URL.Cors))})
		if err != nil {
			return fmt.Errorf("updating the function URL: %w", describe(err))
		}
	}
	return nil
}

// urlLive reports whether the function's URL is on the server as f says.
func (d *Deployer) urlLive(ctx context.Context, f *template.Function) (bool, error) {
	if f.URL == nil {
		return true, nil
	}
	cur, err := d.lambda.GetFunctionUrlConfig(ctx, &awslambda.GetFunctionUrlConfigInput{FunctionName: aws.String(f.Name), Qualifier: qualifier(f.URLQualifier())})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, describe(err)
	}
	return sameURL(cur, f.URL), nil
}

func (d *Deployer) deleteURL(ctx context.Context, name, q string) error {
	_, err := d.lambda.DeleteFunctionUrlConfig(ctx, &awslambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String(name), Qualifier: qualifier(q)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("removing the function URL of %s (%s): %w", name, q, describe(err))
	}
	return nil
}

// qualifier is how the URL APIs name a qualifier: none for $LATEST.
func qualifier(q string) *string {
	if q == latest {
		return nil
	}
	return aws.String(q)
}

func sdkCors(c *lambda.Cors) *types.Cors {
	if c == nil {
		return nil
	}
	return &types.Cors{AllowCredentials: c.AllowCredentials, AllowHeaders: c.AllowHeaders, AllowMethods: c.AllowMethods,
		AllowOrigins: c.AllowOrigins, ExposeHeaders: c.ExposeHeaders, MaxAge: int32Ptr(c.MaxAge)}
}

// orNoCors sends an empty configuration (which removes CORS) for none: an
// update without Cors keeps the old one.
func orNoCors(c *types.Cors) *types.Cors {
	if c == nil {
		return &types.Cors{}
	}
	return c
}

func int32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	return aws.Int32(int32(*p))
}

// sameURL compares the server's URL configuration with the template's.
func sameURL(cur *awslambda.GetFunctionUrlConfigOutput, want *template.FunctionURL) bool {
	if string(cur.AuthType) != want.AuthType || string(cur.InvokeMode) != want.InvokeMode && !(cur.InvokeMode == "" && want.InvokeMode == lambda.InvokeModeBuffer) {
		return false
	}
	a, b := cur.Cors, sdkCors(want.Cors)
	if isEmptyCors(a) || isEmptyCors(b) {
		return isEmptyCors(a) && isEmptyCors(b)
	}
	return aws.ToBool(a.AllowCredentials) == aws.ToBool(b.AllowCredentials) && aws.ToInt32(a.MaxAge) == aws.ToInt32(b.MaxAge) &&
		slices.Equal(a.AllowHeaders, b.AllowHeaders) && slices.Equal(a.AllowMethods, b.AllowMethods) &&
		slices.Equal(a.AllowOrigins, b.AllowOrigins) && slices.Equal(a.ExposeHeaders, b.ExposeHeaders)
}

func isEmptyCors(c *types.Cors) bool {
	return c == nil || !aws.ToBool(c.AllowCredentials) && aws.ToInt32(c.MaxAge) == 0 && len(c.AllowHeaders) == 0 &&
		len(c.AllowMethods) == 0 && len(c.AllowOrigins) == 0 && len(c.ExposeHeaders) == 0
}
