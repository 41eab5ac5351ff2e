package template

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

var (
	envNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)
	shiftRE   = regexp.MustCompile(`^(?:CodeDeployDefault\.Lambda)?(Canary|Linear)(\d{1,3})Percent(?:Every)?(\d{1,4})Minutes?$`)
)

// iamProperties are accepted and ignored: nimbus does not enforce IAM.
var iamProperties = []string{"Policies", "Role", "AssumeRolePolicyDocument", "PermissionsBoundary", "RolePath"}

const iamNote = "IAM is not enforced by nimbus"

// functionNotes are properties accepted and ignored on purpose.
var functionNotes = map[string]string{
	"Tags":                          "tags are not kept",
	"PropagateTags":                 "tags are not kept",
	"Tracing":                       "X-Ray tracing is not available",
	"VpcConfig":                     "functions reach the network directly (no VPCs)",
	"KmsKeyArn":                     "KMS keys are not used",
	"SourceKMSKeyArn":               "KMS keys are not used",
	"LoggingConfig":                 "function logs go to nimbus's log store",
	"AutoPublishAliasAllProperties": "a version is published whenever the function changes",
	"AutoPublishCodeSha256":         "a version is published whenever the function changes",
	"VersionDescription":            "versions have no descriptions",
	"RecursiveLoop":                 "recursive loops are not detected",
	"RuntimeManagementConfig":       "runtimes are the host's",
}

func (p *planner) function(r *resource) {
	base := "Resources." + r.id + ".Properties"
	raw := p.props[r.id]
	deps := dependsOn(r)
	props := p.resolveProps(raw, base, deps, append([]string{"Events"}, iamProperties...)...)
	if props == nil {
		return
	}
	for _, k := range iamProperties {
		if raw.get(k) != nil {
			p.note(k+": "+iamNote+"; ignored", r.id)
		}
	}
	e, err := p.entity(r.id, raw, base)
	if err != nil {
		p.errs.add(err)
		return
	}
	rd := p.reader(props, base)
	rd.str("FunctionName")
	f := &Function{Name: e.ref, ARN: e.attrs["Arn"]}
	if !lambda.ValidName(f.Name) {
		p.errs.add(errAt(r.line, base+".FunctionName", "function name %q must be 1-64 letters, digits, '-' or '_'%s", f.Name, nameHint(raw, "FunctionName")))
	}
	if pt := rd.str("PackageType"); pt != "" && pt != "Zip" {
		rd.fail(rd.n.get("PackageType"), "PackageType", "container image functions are not supported (PackageType %s)", pt)
		return
	}
	for _, k := range []string{"ImageUri", "ImageConfig"} {
		if rd.node(k) != nil {
			rd.fail(rd.n.get(k), k, "container image functions are not supported")
			return
		}
	}
	f.Runtime = rd.required("Runtime")
	family := lambda.RuntimeFamily(f.Runtime)
	if f.Runtime != "" && family == "" {
		hint := ""
		if f.Runtime == "go1.x" {
			hint = "; go1.x is retired: use provided.al2023 (a Go module in CodeUri is built into bootstrap)"
		}
		rd.fail(rd.n.get("Runtime"), "Runtime", "runtime %s is not supported (nimbus runs provided.al2023, provided.al2, nodejs20.x, nodejs22.x, python3.11, python3.12)%s", f.Runtime, hint)
	}
	if family == lambda.FamilyProvided {
		f.Handler = rd.str("Handler")
	} else {
		f.Handler = rd.required("Handler")
	}
	f.Description = rd.str("Description")
	if len(f.Description) > 256 {
		rd.fail(rd.n.get("Description"), "Description", "must be at most 256 characters")
	}
	f.MemorySize = rd.integer("MemorySize", 128, 128, 10240)
	f.Timeout = rd.integer("Timeout", 3, 1, 900)
	if rd.has("EphemeralStorage") {
		es := rd.sub("EphemeralStorage")
		f.EphemeralStorage = es.integer("Size", 512, 512, 10240)
		es.rest(r.id, nil)
	} else {
		f.EphemeralStorage = 512
	}
	f.Architectures = rd.strs("Architectures")
	arch := "amd64"
	switch {
	case len(f.Architectures) == 0:
		f.Architectures = []string{"x86_64"}
	case len(f.Architectures) > 1:
		rd.fail(rd.n.get("Architectures"), "Architectures", "must name one architecture")
	case f.Architectures[0] == "arm64":
		arch = "arm64"
	case f.Architectures[0] != "x86_64":
		rd.fail(rd.n.get("Architectures"), "Architectures", "must be x86_64 or arm64, not %q", f.Architectures[0])
	}
	if rd.has("Environment") {
		env := rd.sub("Environment")
		f.Environment = p.environment(env)
		env.rest(r.id, nil)
	}
	f.ReservedConcurrency = rd.optInt("ReservedConcurrentExecutions", 0, 1<<20)
	if alias := rd.str("AutoPublishAlias"); alias != "" {
		if !lambda.ValidAliasName(alias) {
			rd.fail(rd.n.get("AutoPublishAlias"), "AutoPublishAlias", "alias %q must be letters, digits, '-' or '_', and not only digits", alias)
		}
		f.Alias = &Alias{Name: alias}
	}
	if rd.has("ProvisionedConcurrencyConfig") {
		pc := rd.sub("ProvisionedConcurrencyConfig")
		n := pc.integer("ProvisionedConcurrentExecutions", 0, 1, 1<<20)
		if !pc.has("ProvisionedConcurrentExecutions") {
			pc.fail(nil, "ProvisionedConcurrentExecutions", "is required")
		}
		pc.rest(r.id, nil)
		if f.Alias == nil {
			rd.fail(rd.n.get("ProvisionedConcurrencyConfig"), "ProvisionedConcurrencyConfig", "needs AutoPublishAlias (provisioned concurrency applies to the alias)")
		} else {
			f.Alias.ProvisionedConcurrency = n
		}
	}
	if rd.has("DeploymentPreference") {
		dp := p.deploymentPreference(r.id, rd.sub("DeploymentPreference"))
		if dp != nil && f.Alias == nil {
			rd.fail(rd.n.get("DeploymentPreference"), "DeploymentPreference", "needs AutoPublishAlias (traffic shifts between the alias's versions)")
		} else if dp != nil {
			f.Alias.DeploymentPreference = dp
		}
	}
	if rd.has("EventInvokeConfig") {
		f.EventInvokeConfig = p.eventInvokeConfig(r, rd.sub("EventInvokeConfig"), deps)
	}
	if rd.has("DeadLetterQueue") {
		dl := rd.sub("DeadLetterQueue")
		typ := dl.oneOf("Type", "", "SQS", "SNS")
		f.DeadLetterTarget = dl.required("TargetArn")
		if typ == "" && dl.str("Type") == "" {
			dl.fail(nil, "Type", "is required (SQS or SNS)")
		}
		dl.rest(r.id, nil)
	}
	if rd.has("FunctionUrlConfig") {
		f.URL = functionURL(r.id, rd.sub("FunctionUrlConfig"))
	}
	if layers := rd.strs("Layers"); len(layers) > 0 {
		p.warnf("%s.Layers: layers are not supported yet; their code is not available to the function", base)
	}
	f.Build = p.code(r, rd, family, arch, f.Handler)
	rd.rest(r.id, functionNotes)
	p.add(Resource{LogicalID: r.id, Type: r.typ, DependsOn: sortedKeys(deps), Function: f})
	p.events(r, f, raw.get("Events"))
}

func dependsOn(r *resource) map[string]bool {
	deps := map[string]bool{}
	for _, d := range r.dependsOn {
		deps[d] = true
	}
	return deps
}

func nameHint(raw *node, prop string) string {
	if raw.get(prop) == nil {
		return " (it is <stack>-<LogicalId>; set " + prop + " or use a shorter stack name)"
	}
	return ""
}

func (p *planner) environment(env *reader) map[string]string {
	n := env.node("Variables")
	if n == nil || n.kind == kNull {
		return nil
	}
	if n.kind != kMap {
		env.fail(n, "Variables", "must be a map, not %s", describe(n))
		return nil
	}
	vars := make(map[string]string, len(n.keys))
	for i, k := range n.keys {
		v, path := n.vals[i], join(env.at("Variables"), k)
		if !envNameRE.MatchString(k) {
			p.errs.add(errNode(v, path, "environment variable names must be a letter followed by letters, digits or '_'"))
		}
		if !v.isScalar() {
			p.errs.add(errNode(v, path, "must be a string, not %s", describe(v)))
			continue
		}
		vars[k] = v.text
	}
	return vars
}

func (p *planner) deploymentPreference(id string, dp *reader) *DeploymentPreference {
	notes := map[string]string{"Role": iamNote, "TriggerConfigurations": "CodeDeploy triggers are not available", "PassthroughCondition": ""}
	if !dp.boolean("Enabled", true) {
		markAll(dp)
		return nil
	}
	d := &DeploymentPreference{Type: dp.required("Type")}
	switch m := shiftRE.FindStringSubmatch(d.Type); {
	case d.Type == "AllAtOnce" || d.Type == "CodeDeployDefault.LambdaAllAtOnce":
		d.Kind = ShiftAllAtOnce
	case m != nil:
		d.Kind = strings.ToLower(m[1])
		d.Percent, _ = strconv.Atoi(m[2])
		d.IntervalMinutes, _ = strconv.Atoi(m[3])
		if d.Percent < 1 || d.Percent > 99 || d.IntervalMinutes < 1 {
			dp.fail(dp.n.get("Type"), "Type", "%s: the percentage must be 1-99 and the interval at least a minute", d.Type)
		}
	case d.Type != "":
		dp.fail(dp.n.get("Type"), "Type", "unknown deployment type %q (CanaryNPercentMMinutes, LinearNPercentEveryMMinutes or AllAtOnce)", d.Type)
	}
	d.Alarms = dp.strs("Alarms")
	if len(d.Alarms) > 0 {
		p.note("DeploymentPreference.Alarms: alarms are not evaluated (nimbus rolls back when the new version's error rate rises)", id)
	}
	if dp.has("Hooks") {
		h := dp.sub("Hooks")
		d.PreTraffic, d.PostTraffic = h.str("PreTraffic"), h.str("PostTraffic")
		h.rest(id, nil)
	}
	dp.rest(id, notes)
	return d
}

func (p *planner) eventInvokeConfig(r *resource, ec *reader, deps map[string]bool) *EventInvokeConfig {
	c := &EventInvokeConfig{
		MaximumRetryAttempts:     ec.optInt("MaximumRetryAttempts", 0, 2),
		MaximumEventAgeInSeconds: ec.optInt("MaximumEventAgeInSeconds", 60, 21600),
	}
	if ec.has("DestinationConfig") {
		dc := ec.sub("DestinationConfig")
		for _, which := range []string{"OnSuccess", "OnFailure"} {
			if !dc.has(which) {
				continue
			}
			d := dc.sub(which)
			typ := d.oneOf("Type", "", "SQS", "SNS", "Lambda", "EventBridge", "S3Bucket")
			dest := d.str("Destination")
			if !d.has("Type") {
				d.fail(nil, "Type", "is required (SQS, SNS, Lambda, EventBridge or S3Bucket)")
			}
			switch {
			case typ == "EventBridge" || typ == "S3Bucket":
				p.warnf("%s: %s destinations are not supported yet; ignored", d.path, typ)
				dest = ""
			case dest == "" && typ == "Lambda":
				d.fail(nil, "Destination", "is required for a Lambda destination")
			case dest == "" && (typ == "SQS" || typ == "SNS"):
				// SAM creates the queue or topic.
				id := r.id + "EventInvokeConfig" + which + "Queue"
				if typ == "SNS" {
					id = r.id + "EventInvokeConfig" + which + "Topic"
				}
				e, err := p.entity(id, d.n, d.path)
				if err != nil {
					p.errs.add(err)
					continue
				}
				if typ == "SNS" {
					p.add(Resource{LogicalID: id, Type: TypeTopic, Topic: &Topic{Name: e.attrs["TopicName"], ARN: e.attrs["TopicArn"]}})
					dest = e.attrs["TopicArn"]
				} else {
					p.add(Resource{LogicalID: id, Type: TypeQueue, Queue: defaultQueue(e)})
					dest = e.attrs["Arn"]
				}
				deps[id] = true
			}
			if which == "OnSuccess" {
				c.OnSuccess = dest
			} else {
				c.OnFailure = dest
			}
			d.rest(r.id, nil)
		}
		dc.rest(r.id, nil)
	}
	ec.rest(r.id, nil)
	return c
}

// code decides how the function's code is built.
func (p *planner) code(r *resource, rd *reader, family, arch, handler string) Build {
	b := Build{Arch: arch}
	uri, inline := rd.node("CodeUri"), rd.node("InlineCode")
	switch {
	case uri != nil && inline != nil:
		rd.fail(uri, "CodeUri", "only one of CodeUri and InlineCode may be set")
	case inline != nil:
		code := rd.str("InlineCode")
		mod, _, _ := strings.Cut(handler, ".")
		switch family {
		case lambda.FamilyNode:
			b.InlineFile = mod + ".js"
		case lambda.FamilyPython:
			b.InlineFile = mod + ".py"
		default:
			rd.fail(inline, "InlineCode", "InlineCode needs a Node.js or Python runtime")
		}
		if mod == "" || path.Clean(mod) != mod || strings.HasPrefix(mod, "/") || strings.HasPrefix(mod, "..") {
			rd.fail(inline, "InlineCode", "the handler %q must name a module (file.function)", handler)
		}
		b.Kind, b.InlineCode = BuildInline, code
	case uri == nil:
		rd.fail(nil, "CodeUri", "CodeUri (a directory) or InlineCode is required")
	case uri.kind == kMap || strings.HasPrefix(literal(uri), "s3://"):
		rd.fail(uri, "CodeUri", "code in S3 is not supported; point CodeUri at a directory next to the template")
	default:
		s := rd.str("CodeUri")
		if s == "" {
			rd.fail(uri, "CodeUri", "must name a directory")
			break
		}
		dir := s
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(p.dir, filepath.FromSlash(s))
		}
		b.Dir = dir
		b.Kind = p.detect(r, rd, uri, family, dir)
	}
	return b
}

// detect applies the contract: a directory that already holds an executable
// bootstrap is packaged as it is, one with Go sources (a go.mod) and no
// bootstrap is built; Node and Python directories are packaged as they are.
func (p *planner) detect(r *resource, rd *reader, uri *node, family, dir string) BuildKind {
	fi, err := os.Stat(dir)
	if err != nil {
		rd.fail(uri, "CodeUri", "%s does not exist", dir)
		return ""
	}
	if !fi.IsDir() {
		if strings.EqualFold(filepath.Ext(dir), ".zip") {
			return BuildZip
		}
		rd.fail(uri, "CodeUri", "%s must be a directory or a .zip file", dir)
		return ""
	}
	method := literal(r.metadata.get("BuildMethod"))
	switch family {
	case lambda.FamilyNode:
		if method != "" {
			p.warnf("Resources.%s.Metadata.BuildMethod: %s is not supported; the directory is packaged as it is", r.id, method)
		}
		return BuildNode
	case lambda.FamilyPython:
		if method != "" {
			p.warnf("Resources.%s.Metadata.BuildMethod: %s is not supported; the directory is packaged as it is", r.id, method)
		}
		return BuildPython
	case lambda.FamilyProvided:
	default:
		return ""
	}
	bs, bsErr := os.Stat(filepath.Join(dir, "bootstrap"))
	executable := bsErr == nil && bs.Mode().IsRegular() && bs.Mode()&0o111 != 0
	goSources := exists(filepath.Join(dir, "go.mod")) || hasGoFiles(dir)
	switch {
	case method == "go1.x" && goSources:
		return BuildGo
	case method != "" && method != "go1.x":
		p.warnf("Resources.%s.Metadata.BuildMethod: %s is not supported; using %s", r.id, method, map[bool]string{true: "the bootstrap as it is", false: "go build"}[executable])
	}
	switch {
	case executable:
		return BuildPrebuilt
	case goSources:
		return BuildGo
	case bsErr == nil:
		rd.fail(uri, "CodeUri", "%s/bootstrap is not executable (chmod +x it)", dir)
	default:
		rd.fail(uri, "CodeUri", "%s holds neither an executable bootstrap nor a Go module to build", dir)
	}
	return ""
}

func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

func hasGoFiles(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			return true
		}
	}
	return false
}

// FunctionURL is a function's URL (FunctionUrlConfig). It belongs to the
// function's AutoPublishAlias if it has one, else to $LATEST, as in SAM.
type FunctionURL struct {
	// AuthType is NONE or AWS_IAM.
	AuthType string `json:"authType"`
	// InvokeMode is BUFFERED or RESPONSE_STREAM.
	InvokeMode string       `json:"invokeMode"`
	Cors       *lambda.Cors `json:"cors,omitempty"`
}

// URLQualifier is the qualifier a function's URL belongs to: its alias, or $LATEST.
func (f *Function) URLQualifier() string {
	if f.Alias != nil {
		return f.Alias.Name
	}
	return lambda.Latest
}

func functionURL(id string, u *reader) *FunctionURL {
	if !u.has("AuthType") {
		u.fail(nil, "AuthType", "is required (NONE or AWS_IAM)")
	}
	url := &FunctionURL{
		AuthType:   u.oneOf("AuthType", lambda.AuthTypeNone, lambda.AuthTypeNone, lambda.AuthTypeIAM),
		InvokeMode: u.oneOf("InvokeMode", lambda.InvokeModeBuffer, lambda.InvokeModeBuffer, lambda.InvokeModeStream),
	}
	if u.has("Cors") {
		c := u.sub("Cors")
		url.Cors = &lambda.Cors{
			AllowOrigins:  c.strs("AllowOrigins"),
			AllowMethods:  c.strs("AllowMethods"),
			AllowHeaders:  c.strs("AllowHeaders"),
			ExposeHeaders: c.strs("ExposeHeaders"),
			MaxAge:        c.optInt("MaxAge", 0, 86400),
		}
		if c.has("AllowCredentials") {
			b := c.boolean("AllowCredentials", false)
			url.Cors.AllowCredentials = &b
		}
		c.rest(id, nil)
	}
	u.rest(id, nil)
	return url
}
