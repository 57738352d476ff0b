package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// The steps a test case can run its request through.
const (
	stepAdmit        = "admit"        // mutating, then validating phase
	stepMutating     = "mutating"     // mutating phase only
	stepValidating   = "validating"   // validating phase only
	stepAuthenticate = "authenticate" // a TokenReview
	stepAuthorize    = "authorize"    // a SubjectAccessReview
)

// stepKinds maps each step to the configuration kind it needs.
var stepKinds = map[string]binding.Kind{
	stepAdmit:        binding.KindAdmission,
	stepMutating:     binding.KindAdmission,
	stepValidating:   binding.KindAdmission,
	stepAuthenticate: binding.KindAuthentication,
	stepAuthorize:    binding.KindAuthorization,
}

// expectFields lists the expectations each kind of step accepts.
var expectFields = map[binding.Kind][]string{
	binding.KindAdmission:      {"allowed", "denied", "message", "code", "patch", "object", "warnings", "auditAnnotations"},
	binding.KindAuthentication: {"authenticated", "username", "uid", "groups", "audiences", "error"},
	binding.KindAuthorization:  {"allowed", "denied", "reason", "error"},
}

// suiteFile is the document of a test suite, as written.
type suiteFile struct {
	// Configuration is the configuration file, relative to the suite.
	Configuration string `json:"configuration"`
	// Settings, when set, replace the settings of the configuration's only
	// module for every case (a case may set its own).
	Settings json.RawMessage `json:"settings,omitempty"`
	// Step is the default step of the cases.
	Step string `json:"step,omitempty"`
	// Cases are decoded one by one, so that errors name the case.
	Cases []json.RawMessage `json:"cases"`
}

// caseFile is one case of a suite, as written.
type caseFile struct {
	Name            string            `json:"name"`
	Step            string            `json:"step,omitempty"`
	Request         json.RawMessage   `json:"request"`
	Settings        json.RawMessage   `json:"settings,omitempty"`
	NamespaceLabels map[string]string `json:"namespaceLabels,omitempty"`
	Expect          json.RawMessage   `json:"expect"`
}

// suite is a parsed, checked test suite.
type suite struct {
	file   string // as given on the command line
	config string // configuration path, resolved against the suite's directory
	kind   binding.Kind
	cases  []*testCase
}

// testCase is a parsed, checked case with its decoded request.
type testCase struct {
	name            string
	step            string
	settings        json.RawMessage // nil: as configured
	namespaceLabels map[string]string
	expect          expectation

	admission *admissionv1.AdmissionReview
	token     *authenticationv1.TokenReview
	access    *authorizationv1.SubjectAccessReview
}

// expectation is what a case expects; nil fields are not checked.
type expectation struct {
	// Allowed: admission allowed the request, or authorization allowed it.
	Allowed *bool
	// Denied: admission rejected the request, or authorization explicitly
	// denied it.
	Denied *bool
	// Message is a substring of the admission rejection's message.
	Message *string
	// Code is the admission response's HTTP code (200 when allowed).
	Code *int32
	// Patch is the combined JSONPatch of the mutating phase; [] or null
	// expects no patch.
	Patch json.RawMessage
	// Object is the request's object after the patch.
	Object json.RawMessage
	// Warnings are the admission warnings, in order.
	Warnings *[]string
	// AuditAnnotations must all be among the response's audit annotations.
	AuditAnnotations map[string]string
	// Authenticated, Username, UID, Groups and Audiences are the
	// TokenReview status.
	Authenticated *bool
	Username      *string
	UID           *string
	Groups        *[]string
	Audiences     *[]string
	// Error is a substring of the TokenReview's status.error or of the
	// SubjectAccessReview's status.evaluationError.
	Error *string
	// Reason is a substring of the SubjectAccessReview's status.reason.
	Reason *string
}

// targets maps each expectation field name to where it decodes.
func (e *expectation) targets() map[string]interface{} {
	return map[string]interface{}{
		"allowed": &e.Allowed, "denied": &e.Denied, "message": &e.Message, "code": &e.Code,
		"patch": &e.Patch, "object": &e.Object, "warnings": &e.Warnings, "auditAnnotations": &e.AuditAnnotations,
		"authenticated": &e.Authenticated, "username": &e.Username, "uid": &e.UID, "groups": &e.Groups,
		"audiences": &e.Audiences, "error": &e.Error, "reason": &e.Reason,
	}
}

// suiteErrors collects every problem of a suite, each naming the file, the
// case and the field.
type suiteErrors []string

func (s *suiteErrors) add(file, at, field string, format string, args ...interface{}) {
	loc := file
	if at != "" {
		loc += ": " + at
	}
	if field != "" {
		loc += fmt.Sprintf(": field %q", field)
	}
	*s = append(*s, loc+": "+fmt.Sprintf(format, args...))
}

// caseLabel names a case in errors: its index and, when known, its name.
func caseLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("cases[%d]", i)
	}
	return fmt.Sprintf("cases[%d] %q", i, name)
}

// loadSuite reads and checks a suite file, its requests and expectations.
// It returns every problem found.
func loadSuite(file string) (*suite, []string) {
	var errs suiteErrors
	data, err := os.ReadFile(file)
	if err != nil {
		errs.add(file, "", "", "%v", err)
		return nil, errs
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		errs.add(file, "", "", "not YAML or JSON: %v", err)
		return nil, errs
	}
	var sf suiteFile
	if err := strictUnmarshal(js, &sf); err != nil {
		errs.add(file, "", "", "%s", jsonError(err))
		return nil, errs
	}
	dir := filepath.Dir(file)
	s := &suite{file: file}
	if sf.Configuration == "" {
		errs.add(file, "", "configuration", "required: the configuration file (relative to the suite) the cases run through")
	} else {
		s.config = sf.Configuration
		if !filepath.IsAbs(s.config) {
			s.config = filepath.Join(dir, s.config)
		}
		if _, err := os.Stat(s.config); err != nil {
			errs.add(file, "", "configuration", "%v", err)
		}
	}
	if sf.Step != "" {
		if _, ok := stepKinds[sf.Step]; !ok {
			errs.add(file, "", "step", "unknown step %q (want %s)", sf.Step, stepNames())
		}
	}
	if len(sf.Cases) == 0 {
		errs.add(file, "", "cases", "the suite has no cases")
	}
	names := map[string]int{}
	var firstKind string // the case that set the suite's kind
	for i, raw := range sf.Cases {
		tc := checkCase(file, dir, i, raw, &sf, &errs)
		if tc == nil {
			continue
		}
		at := caseLabel(i, tc.name)
		if first, dup := names[tc.name]; dup {
			errs.add(file, at, "name", "the name of cases[%d] too: names must be unique in a suite", first)
		}
		names[tc.name] = i
		kind := stepKinds[tc.step]
		if firstKind == "" {
			firstKind, s.kind = at, kind
		} else if kind != s.kind {
			errs.add(file, at, "step", "step %q needs %s configuration, but %s runs through %s configuration: a suite has one configuration, use another suite", tc.step, article(kind), firstKind, article(s.kind))
			continue
		}
		s.cases = append(s.cases, tc)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// checkCase decodes one case, its request and its expectation; nil when the
// case is too broken to check further (errs says why).
func checkCase(file, dir string, i int, raw json.RawMessage, sf *suiteFile, errs *suiteErrors) *testCase {
	var cf caseFile
	if err := strictUnmarshal(raw, &cf); err != nil {
		// Name the case if its name can be read at all.
		var named struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(raw, &named)
		errs.add(file, caseLabel(i, named.Name), "", "%s", jsonError(err))
		return nil
	}
	at := caseLabel(i, cf.Name)
	n := len(*errs)
	if cf.Name == "" {
		errs.add(file, at, "name", "required")
	}
	tc := &testCase{name: cf.Name, step: cf.Step, namespaceLabels: cf.NamespaceLabels}
	if tc.step == "" {
		tc.step = sf.Step
	}
	kind, ok := stepKinds[tc.step]
	switch {
	case tc.step == "":
		errs.add(file, at, "step", "required (here or at the top of the suite): %s", stepNames())
		return nil
	case !ok:
		errs.add(file, at, "step", "unknown step %q (want %s)", tc.step, stepNames())
		return nil
	}
	tc.settings = sf.Settings
	if len(cf.Settings) > 0 {
		tc.settings = cf.Settings
	}
	if isNull(tc.settings) {
		tc.settings = nil
	}
	if len(cf.NamespaceLabels) > 0 && kind != binding.KindAdmission {
		errs.add(file, at, "namespaceLabels", "only admission steps look namespaces up")
	}
	checkRequest(file, dir, at, &cf, tc, errs)
	checkExpectation(file, at, kind, cf.Expect, &tc.expect, errs)
	if len(*errs) > n {
		return nil
	}
	return tc
}

// checkRequest reads the case's request (a file relative to the suite, or
// inline) and decodes it for the case's step.
func checkRequest(file, dir, at string, cf *caseFile, tc *testCase, errs *suiteErrors) {
	if len(cf.Request) == 0 || isNull(cf.Request) {
		errs.add(file, at, "request", "required: a request file (relative to the suite) or an inline request")
		return
	}
	js := []byte(cf.Request)
	field := "request"
	var path string
	if err := json.Unmarshal(cf.Request, &path); err == nil {
		field = "request (" + path + ")"
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs.add(file, at, "request", "%v", err)
			return
		}
		if js, err = yaml.YAMLToJSON(data); err != nil {
			errs.add(file, at, field, "not YAML or JSON: %v", err)
			return
		}
	}
	var err error
	switch stepKinds[tc.step] {
	case binding.KindAdmission:
		tc.admission, err = decodeAdmission(js)
	case binding.KindAuthentication:
		tc.token = &authenticationv1.TokenReview{}
		if err = strictUnmarshal(js, tc.token); err != nil {
			err = fmt.Errorf("decoding TokenReview: %w", err)
		}
	case binding.KindAuthorization:
		tc.access = &authorizationv1.SubjectAccessReview{}
		if err = strictUnmarshal(js, tc.access); err == nil {
			_, err = attributesFrom(&tc.access.Spec)
		} else {
			err = fmt.Errorf("decoding SubjectAccessReview: %w", err)
		}
	}
	if err != nil {
		errs.add(file, at, field, "%s", jsonError(err))
	}
}

// checkExpectation decodes expect field by field, so that an error names the
// field, and checks the fields suit the step.
func checkExpectation(file, at string, kind binding.Kind, raw json.RawMessage, e *expectation, errs *suiteErrors) {
	if len(raw) == 0 || isNull(raw) {
		errs.add(file, at, "expect", "required: what the case expects (%s)", strings.Join(expectFields[kind], ", "))
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		errs.add(file, at, "expect", "must be a map of expectations (%s)", strings.Join(expectFields[kind], ", "))
		return
	}
	if len(fields) == 0 {
		errs.add(file, at, "expect", "no expectation: give at least one of %s", strings.Join(expectFields[kind], ", "))
	}
	valid := map[string]bool{}
	for _, f := range expectFields[kind] {
		valid[f] = true
	}
	targets := e.targets()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := "expect." + k
		if !valid[k] {
			errs.add(file, at, field, "unknown expectation for %s step (valid: %s)", article(kind), strings.Join(expectFields[kind], ", "))
			continue
		}
		if err := strictUnmarshal(fields[k], targets[k]); err != nil {
			errs.add(file, at, field, "%s", jsonError(err))
		}
	}
	if e.Allowed != nil && e.Denied != nil && kind == binding.KindAdmission && *e.Allowed == *e.Denied {
		errs.add(file, at, "expect.denied", "contradicts expect.allowed: an admission request is either allowed or denied")
	}
	if e.Allowed != nil && e.Denied != nil && kind == binding.KindAuthorization && *e.Allowed && *e.Denied {
		errs.add(file, at, "expect.denied", "contradicts expect.allowed")
	}
	if e.Patch != nil && !isNull(e.Patch) {
		var ops []map[string]interface{}
		if err := json.Unmarshal(e.Patch, &ops); err != nil {
			errs.add(file, at, "expect.patch", "must be a JSONPatch: a list of operations ({op, path, value})")
		} else {
			for j, op := range ops {
				if _, ok := op["op"]; !ok {
					errs.add(file, at, fmt.Sprintf("expect.patch[%d]", j), "has no \"op\"")
				}
				if _, ok := op["path"]; !ok {
					errs.add(file, at, fmt.Sprintf("expect.patch[%d]", j), "has no \"path\"")
				}
			}
		}
	}
	if e.Object != nil {
		var obj map[string]interface{}
		if err := json.Unmarshal(e.Object, &obj); err != nil || obj == nil {
			errs.add(file, at, "expect.object", "must be the object (a map) after the mutating phase")
		}
	}
}

// article names a configuration kind with its article.
func article(k binding.Kind) string {
	return "an " + k.String() // admission, authentication, authorization
}

func stepNames() string {
	return strings.Join([]string{stepAdmit, stepMutating, stepValidating, stepAuthenticate, stepAuthorize}, ", ")
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// jsonError drops encoding/json's "json: " prefix.
func jsonError(err error) string {
	return strings.ReplaceAll(err.Error(), "json: ", "")
}
