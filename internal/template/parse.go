package template

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxTemplateBytes is the largest template Parse reads (CloudFormation's
// limit for templates in S3).
const MaxTemplateBytes = 1 << 20

// SAMTransform is the transform that enables AWS::Serverless resources.
const SAMTransform = "AWS::Serverless-2016-10-31"

// Template is a parsed template: syntax and section shapes checked, nothing
// resolved yet. It is read-only; Plan and Resolve may be called any number of
// times, also concurrently.
type Template struct {
	// Description is the template's Description.
	Description string
	// Parameters are the declared parameters, in template order.
	Parameters []Parameter

	transforms []string
	mappings   *node
	conditions *node
	globals    map[string]*node // section → its map
	resources  []*resource
	byID       map[string]*resource
	outputs    []*output
	warnings   []string
}

// Parameter is a declared template parameter.
type Parameter struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	// Default is the default value; nil when there is none (a value must
	// then be given).
	Default               *string  `json:"default,omitempty"`
	AllowedValues         []string `json:"allowedValues,omitempty"`
	AllowedPattern        string   `json:"allowedPattern,omitempty"`
	ConstraintDescription string   `json:"constraintDescription,omitempty"`
	MinLength             *int     `json:"minLength,omitempty"`
	MaxLength             *int     `json:"maxLength,omitempty"`
	MinValue              *float64 `json:"minValue,omitempty"`
	MaxValue              *float64 `json:"maxValue,omitempty"`
	// NoEcho values are shown as "****" in plans.
	NoEcho bool `json:"noEcho,omitempty"`

	pattern *regexp.Regexp
	line    int
}

type resource struct {
	id        string
	typ       string
	props     *node // a map, or nil
	metadata  *node
	condition string
	dependsOn []string
	retain    bool // DeletionPolicy: Retain (or RetainExceptOnCreate)
	line      int
	index     int // position in the template
}

type output struct {
	name, condition string
	value           *node
	description     *node
	export          *node
	line            int
}

var (
	logicalIDRE = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)
	// templateKeys are the top-level sections.
	templateKeys = map[string]bool{
		"AWSTemplateFormatVersion": true, "Description": true, "Metadata": true,
		"Parameters": true, "Rules": true, "Mappings": true, "Conditions": true,
		"Transform": true, "Globals": true, "Resources": true, "Outputs": true,
	}
	resourceKeys = map[string]bool{
		"Type": true, "Properties": true, "Condition": true, "DependsOn": true,
		"Metadata": true, "DeletionPolicy": true, "UpdateReplacePolicy": true,
		"UpdatePolicy": true, "CreationPolicy": true, "Version": true,
	}
	parameterKeys = map[string]bool{
		"Type": true, "Default": true, "Description": true, "AllowedValues": true,
		"AllowedPattern": true, "ConstraintDescription": true, "MinLength": true,
		"MaxLength": true, "MinValue": true, "MaxValue": true, "NoEcho": true,
	}
)

// Parse reads a template written in YAML or JSON. It checks the syntax and
// the shape of every section; names, values and resource properties are
// checked by Plan.
func Parse(data []byte) (t *Template, err error) {
	if len(data) > MaxTemplateBytes {
		return nil, &Error{Msg: fmt.Sprintf("the template is larger than %d bytes", MaxTemplateBytes)}
	}
	var doc yaml.Node
	if err := decodeYAML(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{Msg: "the template is empty"}
	}
	c := &converter{}
	root, err := c.convert(doc.Content[0], "")
	if err != nil {
		return nil, err
	}
	if root.kind != kMap {
		return nil, errNode(root, "", "a template must be a map of sections, not a %s", root.kind)
	}
	t = &Template{byID: map[string]*resource{}}
	var errs errorList
	for i, k := range root.keys {
		if !templateKeys[k] {
			errs.add(errNode(root.vals[i], k, "not a template section"))
		}
	}
	if v := root.get("AWSTemplateFormatVersion"); v != nil && (!v.isScalar() || v.text != "2010-09-09") {
		errs.add(errNode(v, "AWSTemplateFormatVersion", "must be 2010-09-09"))
	}
	if v := root.get("Description"); v != nil {
		if !v.isScalar() {
			errs.add(errNode(v, "Description", "must be a string"))
		}
		t.Description = v.text
	}
	errs.add(t.parseTransform(root.get("Transform")))
	errs.add(t.parseParameters(root.get("Parameters")))
	errs.add(t.parseMappings(root.get("Mappings")))
	if v := root.get("Conditions"); v != nil {
		if v.kind != kMap {
			errs.add(errNode(v, "Conditions", "must be a map"))
		} else {
			t.conditions = v
			for i, k := range v.keys {
				if !logicalIDRE.MatchString(k) {
					errs.add(errNode(v.vals[i], "Conditions."+k, "condition names must be letters and digits"))
				}
			}
		}
	}
	if v := root.get("Rules"); v != nil {
		t.warnings = append(t.warnings, "Rules: template rules are not evaluated")
	}
	errs.add(t.parseGlobals(root.get("Globals")))
	errs.add(t.parseResources(root.get("Resources")))
	errs.add(t.parseOutputs(root.get("Outputs")))
	for _, p := range t.Parameters {
		if t.byID[p.Name] != nil {
			errs.add(errAt(p.line, "Parameters."+p.Name, "a resource has the same logical id"))
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeYAML parses one YAML document. yaml.v3 is not known to panic on any
// input since v3.0.0; the recover keeps a bad template an error even if it did.
func decodeYAML(data []byte, doc *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Msg: fmt.Sprintf("the template is not valid YAML or JSON (%v)", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(jsonEscapes(data)))
	if err := dec.Decode(doc); err != nil {
		if err.Error() == "EOF" {
			return &Error{Msg: "the template is empty"}
		}
		return yamlError(err)
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		return errAt(extra.Line, "", "a template is one YAML document, not several")
	}
	return nil
}

// jsonEscapes rewrites the JSON escape \/ (which YAML lacks) as / when data
// is a JSON document; lines and everything else are unchanged.
func jsonEscapes(data []byte) []byte {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(data, []byte(`\/`)) {
		return data
	}
	out := make([]byte, 0, len(data))
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString && c == '\\' && i+1 < len(data):
			if data[i+1] != '/' {
				out = append(out, c)
			}
			out = append(out, data[i+1])
			i++
			continue
		case c == '"':
			inString = !inString
		}
		out = append(out, c)
	}
	return out
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return errAt(line, "", "%s", m[2])
	}
	return &Error{Msg: strings.TrimPrefix(msg, "yaml: ")}
}

func (t *Template) parseTransform(v *node) error {
	if v == nil {
		return nil
	}
	var names []*node
	switch v.kind {
	case kString:
		names = []*node{v}
	case kList:
		names = v.items
	default:
		return errNode(v, "Transform", "must be a name or a list of names")
	}
	for _, n := range names {
		switch {
		case n.kind != kString:
			return errNode(n, "Transform", "must be a name or a list of names")
		case n.text == SAMTransform:
		case n.text == "AWS::LanguageExtensions":
			t.warnings = append(t.warnings, "Transform: AWS::LanguageExtensions is not supported (Fn::ForEach, Fn::Length, Fn::ToJsonString are refused)")
		default:
			return errNode(n, "Transform", "transform %s is not supported (only %s)", n.text, SAMTransform)
		}
		t.transforms = append(t.transforms, n.text)
	}
	return nil
}

func (t *Template) serverless() bool {
	for _, tr := range t.transforms {
		if tr == SAMTransform {
			return true
		}
	}
	return false
}

var parameterTypes = map[string]bool{
	"String": true, "Number": true, "CommaDelimitedList": true, "List<Number>": true,
}

func (t *Template) parseParameters(v *node) error {
	if v == nil {
		return nil
	}
	if v.kind != kMap {
		return errNode(v, "Parameters", "must be a map")
	}
	var errs errorList
	for i, name := range v.keys {
		d, path := v.vals[i], "Parameters."+name
		if !logicalIDRE.MatchString(name) {
			errs.add(errNode(d, path, "parameter names must be letters and digits"))
			continue
		}
		if d.kind != kMap {
			errs.add(errNode(d, path, "must be a map with a Type"))
			continue
		}
		p := Parameter{Name: name, line: d.line}
		for j, k := range d.keys {
			if !parameterKeys[k] {
				errs.add(errNode(d.vals[j], join(path, k), "not a parameter attribute"))
			}
		}
		scalar := func(k string) (string, bool) {
			n := d.get(k)
			if n == nil {
				return "", false
			}
			if !n.isScalar() {
				errs.add(errNode(n, join(path, k), "must be a string"))
				return "", false
			}
			return n.text, true
		}
		p.Type, _ = scalar("Type")
		switch {
		case p.Type == "":
			errs.add(errNode(d, path, "Type is required"))
		case strings.Contains(p.Type, "AWS::"):
			errs.add(errNode(d.get("Type"), join(path, "Type"), "parameter type %s is not supported (nimbus has no SSM parameters or EC2 resources); use String", p.Type))
		case !parameterTypes[p.Type]:
			errs.add(errNode(d.get("Type"), join(path, "Type"), "unknown parameter type %q", p.Type))
		}
		if n := d.get("Default"); n != nil {
			var s string
			switch {
			case n.isScalar():
				s = n.text
			case n.kind == kList && allScalars(n.items):
				parts := make([]string, len(n.items))
				for j, e := range n.items {
					parts[j] = e.text
				}
				s = strings.Join(parts, ",")
			default:
				errs.add(errNode(n, join(path, "Default"), "must be a string"))
			}
			p.Default = &s
		}
		p.Description, _ = scalar("Description")
		p.ConstraintDescription, _ = scalar("ConstraintDescription")
		if n := d.get("AllowedValues"); n != nil {
			if n.kind != kList || !allScalars(n.items) {
				errs.add(errNode(n, join(path, "AllowedValues"), "must be a list of strings"))
			} else {
				for _, e := range n.items {
					p.AllowedValues = append(p.AllowedValues, e.text)
				}
			}
		}
		if s, ok := scalar("AllowedPattern"); ok {
			re, err := regexp.Compile("^(?:" + s + ")$")
			if err != nil {
				errs.add(errNode(d.get("AllowedPattern"), join(path, "AllowedPattern"), "not a regular expression nimbus can use: %v", err))
			}
			p.AllowedPattern, p.pattern = s, re
		}
		intAttr := func(k string) *int {
			s, ok := scalar(k)
			if !ok {
				return nil
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				errs.add(errNode(d.get(k), join(path, k), "must be a non-negative integer"))
				return nil
			}
			return &n
		}
		floatAttr := func(k string) *float64 {
			s, ok := scalar(k)
			if !ok {
				return nil
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				errs.add(errNode(d.get(k), join(path, k), "must be a number"))
				return nil
			}
			return &f
		}
		p.MinLength, p.MaxLength = intAttr("MinLength"), intAttr("MaxLength")
		p.MinValue, p.MaxValue = floatAttr("MinValue"), floatAttr("MaxValue")
		if s, ok := scalar("NoEcho"); ok {
			p.NoEcho = strings.EqualFold(s, "true")
		}
		t.Parameters = append(t.Parameters, p)
	}
	return errs.err()
}

func allScalars(ns []*node) bool {
	for _, n := range ns {
		if !n.isScalar() {
			return false
		}
	}
	return true
}

func (t *Template) parseMappings(v *node) error {
	if v == nil {
		return nil
	}
	if v.kind != kMap {
		return errNode(v, "Mappings", "must be a map")
	}
	for i, name := range v.keys {
		m, path := v.vals[i], "Mappings."+name
		if m.kind != kMap {
			return errNode(m, path, "a mapping must be a map of maps")
		}
		for j, top := range m.keys {
			if m.vals[j].kind != kMap {
				return errNode(m.vals[j], join(path, top), "a mapping must be a map of maps")
			}
		}
	}
	t.mappings = v
	return nil
}

// globalsProperties lists what each supported Globals section may hold (SAM's lists).
var globalsProperties = map[string]map[string]bool{
	"Function": set("Handler", "Runtime", "CodeUri", "DeadLetterQueue", "Description", "MemorySize",
		"Timeout", "VpcConfig", "Environment", "Tags", "PropagateTags", "Tracing", "KmsKeyArn", "Layers",
		"AutoPublishAlias", "AutoPublishAliasAllProperties", "DeploymentPreference", "PermissionsBoundary",
		"ReservedConcurrentExecutions", "ProvisionedConcurrencyConfig", "AssumeRolePolicyDocument",
		"EventInvokeConfig", "Architectures", "EphemeralStorage", "SnapStart", "RuntimeManagementConfig",
		"LoggingConfig", "RecursiveLoop", "SourceKMSKeyArn", "FunctionUrlConfig", "CodeSigningConfigArn",
		"FileSystemConfigs", "Policies", "Role", "RolePath"),
	"Api": set("Auth", "Name", "DefinitionUri", "CacheClusterEnabled", "CacheClusterSize", "MergeDefinitions",
		"Variables", "EndpointConfiguration", "MethodSettings", "BinaryMediaTypes", "MinimumCompressionSize",
		"Cors", "GatewayResponses", "AccessLogSetting", "CanarySetting", "TracingEnabled", "OpenApiVersion",
		"Domain", "AlwaysDeploy", "PropagateTags", "Tags", "Description"),
	"HttpApi": set("Auth", "CorsConfiguration", "AccessLogSettings", "Tags", "DefaultRouteSettings",
		"RouteSettings", "Domain", "StageVariables", "DisableExecuteApiEndpoint", "PropagateTags",
		"FailOnWarnings", "Description", "Name"),
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (t *Template) parseGlobals(v *node) error {
	if v == nil {
		return nil
	}
	if v.kind != kMap {
		return errNode(v, "Globals", "must be a map")
	}
	t.globals = map[string]*node{}
	var errs errorList
	for i, section := range v.keys {
		g, path := v.vals[i], "Globals."+section
		allowed, ok := globalsProperties[section]
		switch {
		case ok:
		case section == "SimpleTable" || section == "StateMachine" || section == "LayerVersion" || section == "CapacityProvider":
			t.warnings = append(t.warnings, path+": not supported; ignored")
			continue
		default:
			errs.add(errNode(g, path, "not a Globals section (Function, Api, HttpApi)"))
			continue
		}
		if g.kind != kMap {
			errs.add(errNode(g, path, "must be a map"))
			continue
		}
		for j, k := range g.keys {
			if !allowed[k] {
				errs.add(errNode(g.vals[j], join(path, k), "not a property Globals.%s can set", section))
			}
		}
		t.globals[section] = g
	}
	return errs.err()
}

func (t *Template) parseResources(v *node) error {
	if v == nil {
		return &Error{Path: "Resources", Msg: "a template needs at least one resource"}
	}
	if v.kind != kMap || len(v.keys) == 0 {
		return errNode(v, "Resources", "must be a map of at least one resource")
	}
	var errs errorList
	for i, id := range v.keys {
		d, path := v.vals[i], "Resources."+id
		if !logicalIDRE.MatchString(id) {
			errs.add(errNode(d, path, "logical ids must be letters and digits"))
			continue
		}
		if d.kind != kMap {
			errs.add(errNode(d, path, "must be a map with a Type"))
			continue
		}
		r := &resource{id: id, line: d.line, index: i}
		for j, k := range d.keys {
			if !resourceKeys[k] {
				errs.add(errNode(d.vals[j], join(path, k), "not a resource attribute"))
			}
		}
		typ := d.get("Type")
		if typ == nil || typ.kind != kString || typ.text == "" {
			errs.add(errNode(d, join(path, "Type"), "a resource needs a Type"))
			continue
		}
		r.typ = typ.text
		if strings.HasPrefix(r.typ, "AWS::Serverless::") && !t.serverless() {
			errs.add(errNode(typ, join(path, "Type"), "%s needs Transform: %s", r.typ, SAMTransform))
		}
		if p := d.get("Properties"); p != nil && p.kind != kNull {
			if p.kind != kMap {
				errs.add(errNode(p, join(path, "Properties"), "must be a map"))
			} else {
				r.props = p
			}
		}
		r.metadata = d.get("Metadata")
		if dp := d.get("DeletionPolicy"); dp != nil {
			switch literal(dp) {
			case "Delete":
			case "Retain", "RetainExceptOnCreate":
				r.retain = true
			case "Snapshot":
				t.warnings = append(t.warnings, path+".DeletionPolicy: Snapshot is not supported; the resource is deleted")
			default:
				errs.add(errNode(dp, join(path, "DeletionPolicy"), "must be Delete, Retain, RetainExceptOnCreate or Snapshot"))
			}
		}
		if c := d.get("Condition"); c != nil {
			if c.kind != kString {
				errs.add(errNode(c, join(path, "Condition"), "must be a condition name"))
			} else if t.conditions.get(c.text) == nil {
				errs.add(errNode(c, join(path, "Condition"), "no condition named %q", c.text))
			}
			r.condition = c.text
		}
		if dep := d.get("DependsOn"); dep != nil {
			var names []*node
			switch dep.kind {
			case kString:
				names = []*node{dep}
			case kList:
				names = dep.items
			}
			if names == nil && dep.kind != kList {
				errs.add(errNode(dep, join(path, "DependsOn"), "must be a logical id or a list of them"))
			}
			for _, n := range names {
				if n.kind != kString {
					errs.add(errNode(n, join(path, "DependsOn"), "must be a logical id or a list of them"))
					continue
				}
				r.dependsOn = append(r.dependsOn, n.text)
			}
		}
		t.resources = append(t.resources, r)
		t.byID[id] = r
	}
	for _, r := range t.resources {
		for _, dep := range r.dependsOn {
			if t.byID[dep] == nil || dep == r.id {
				errs.add(errAt(r.line, "Resources."+r.id+".DependsOn", "no other resource named %q", dep))
			}
		}
	}
	return errs.err()
}

func (t *Template) parseOutputs(v *node) error {
	if v == nil {
		return nil
	}
	if v.kind != kMap {
		return errNode(v, "Outputs", "must be a map")
	}
	var errs errorList
	for i, name := range v.keys {
		d, path := v.vals[i], "Outputs."+name
		if !logicalIDRE.MatchString(name) {
			errs.add(errNode(d, path, "output names must be letters and digits"))
			continue
		}
		if d.kind != kMap || d.get("Value") == nil {
			errs.add(errNode(d, path, "an output needs a Value"))
			continue
		}
		o := &output{name: name, value: d.get("Value"), description: d.get("Description"), export: d.get("Export"), line: d.line}
		for j, k := range d.keys {
			switch k {
			case "Value", "Description", "Export":
			case "Condition":
				c := d.vals[j]
				if c.kind != kString || t.conditions.get(c.text) == nil {
					errs.add(errNode(c, join(path, k), "no condition named %q", c.text))
				}
				o.condition = c.text
			default:
				errs.add(errNode(d.vals[j], join(path, k), "not an output attribute"))
			}
		}
		if e := o.export; e != nil && (e.kind != kMap || e.get("Name") == nil) {
			errs.add(errNode(e, join(path, "Export"), "must be a map with a Name"))
		}
		t.outputs = append(t.outputs, o)
	}
	return errs.err()
}
