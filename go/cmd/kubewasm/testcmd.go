package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	wasmauthenticator "github.com/kubewasm/kubewasm/go/authenticator"
	wasmauthorizer "github.com/kubewasm/kubewasm/go/authorizer"
	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// Exit statuses of kubewasm test.
const (
	testPassed   = 0 // every case passed
	testFailed   = 1 // a case failed
	testBadSuite = 2 // bad usage, an invalid suite, a configuration that does not load
)

// runTest is "kubewasm test": it checks every suite first, then runs them,
// and returns the exit status.
func runTest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("verbose", false, "print the library's log lines on stderr")
	fs.BoolVar(verbose, "v", false, "shorthand for --verbose")
	runPattern := fs.String("run", "", "run only the cases whose name matches this regular expression")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kubewasm test [-v] [--run REGEXP] SUITE.yaml...\n\nRun test suites (docs/testing.md). Exit status: 0 all passed, 1 a case failed, 2 invalid suite.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(interleave(args, fs)); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return testBadSuite
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "kubewasm test: want at least one SUITE file\nRun 'kubewasm help' for usage.")
		return testBadSuite
	}
	var filter *regexp.Regexp
	if *runPattern != "" {
		var err error
		if filter, err = regexp.Compile(*runPattern); err != nil {
			fmt.Fprintf(stderr, "kubewasm test: --run: %v\n", err)
			return testBadSuite
		}
	}
	setupLogging(*verbose, stderr)

	var suites []*suite
	var problems []string
	for _, file := range fs.Args() {
		s, errs := loadSuite(file)
		problems = append(problems, errs...)
		if s != nil {
			suites = append(suites, s)
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "kubewasm test: %s\n", p)
		}
		fmt.Fprintf(stderr, "kubewasm test: %d problem(s) in the suites; nothing was run\n", len(problems))
		return testBadSuite
	}

	var passed, failed, broken int
	start := time.Now()
	for _, s := range suites {
		p, f, err := s.run(context.Background(), filter, stdout)
		passed += p
		failed += f
		if err != nil {
			broken++
			fmt.Fprintf(stderr, "kubewasm test: %v\n", err)
		}
	}
	status := "ok"
	switch {
	case broken > 0:
		status = "ERROR"
	case failed > 0:
		status = "FAIL"
	}
	fmt.Fprintf(stdout, "%s: %d passed, %d failed, %d suite(s) in %s\n", status, passed, failed, len(suites), time.Since(start).Round(time.Millisecond))
	switch {
	case broken > 0:
		return testBadSuite
	case failed > 0:
		return testFailed
	}
	return testPassed
}

// runners holds the loaded configurations of one suite, one per distinct
// settings override (and, for authentication, per audiences).
type runners struct {
	admission      map[string]*admissionRunner
	authenticators map[string]*wasmauthenticator.Authenticator
	authorizers    map[string]*wasmauthorizer.Authorizer
}

func (r *runners) close() {
	for _, a := range r.admission {
		a.close()
	}
	for _, a := range r.authenticators {
		_ = a.Close()
	}
	for _, a := range r.authorizers {
		_ = a.Close()
	}
}

// run runs the cases of a suite, printing a line per case (and the
// difference when it fails). The error reports a configuration that could
// not be loaded: the cases that needed it are not run.
func (s *suite) run(ctx context.Context, filter *regexp.Regexp, w io.Writer) (passed, failed int, err error) {
	rs := &runners{
		admission:      map[string]*admissionRunner{},
		authenticators: map[string]*wasmauthenticator.Authenticator{},
		authorizers:    map[string]*wasmauthorizer.Authorizer{},
	}
	defer rs.close()
	for i, tc := range s.cases {
		if filter != nil && !filter.MatchString(tc.name) {
			continue
		}
		mismatches, details, took, err := s.runCase(ctx, rs, tc)
		if err != nil {
			field := "configuration"
			if tc.settings != nil {
				field = "settings"
			}
			return passed, failed, fmt.Errorf("%s: %s: field %q: %v", s.file, caseLabel(i, tc.name), field, err)
		}
		took = took.Round(10 * time.Microsecond)
		if len(mismatches) == 0 {
			passed++
			fmt.Fprintf(w, "PASS  %s: %s (%s)\n", s.file, tc.name, took)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s: %s (%s)\n", s.file, tc.name, took)
		for _, m := range mismatches {
			for _, line := range strings.Split(strings.TrimRight(m, "\n"), "\n") {
				fmt.Fprintf(w, "        %s\n", line)
			}
		}
		if details != "" {
			fmt.Fprintf(w, "        what the modules did:\n")
			for _, line := range strings.Split(strings.TrimRight(details, "\n"), "\n") {
				fmt.Fprintf(w, "          %s\n", line)
			}
		}
	}
	return passed, failed, nil
}

// runCase runs one case through the same code as the request commands and
// returns what did not match expectations, (for admission) the summary of
// what the modules did, and how long the request took (loading the
// configuration not included).
func (s *suite) runCase(ctx context.Context, rs *runners, tc *testCase) (_ []string, details string, took time.Duration, err error) {
	cfg := configSource{path: s.config, settings: tc.settings}
	key := string(tc.settings)
	switch s.kind {
	case binding.KindAdmission:
		r := rs.admission[key]
		if r == nil {
			if r, err = newAdmissionRunner(cfg); err != nil {
				return nil, "", 0, err
			}
			rs.admission[key] = r
		}
		r.namespaces.labels = tc.namespaceLabels
		phases := map[string]admissionPhases{stepAdmit: bothPhases, stepMutating: mutatingPhase, stepValidating: validatingPhase}[tc.step]
		var summary bytes.Buffer
		start := time.Now()
		out, err := r.review(ctx, tc.admission, phases, &summary)
		took = time.Since(start)
		if err != nil {
			return nil, "", took, err
		}
		resp := out.review.Response
		verdict := "response: allowed"
		if !resp.Allowed && resp.Result != nil {
			verdict = fmt.Sprintf("response: denied, code %d: %s", resp.Result.Code, resp.Result.Message)
		}
		return compareAdmission(&tc.expect, tc.admission.Request, resp), verdict + "\n" + summary.String(), took, nil
	case binding.KindAuthentication:
		akey := key + "\x00" + strings.Join(tc.token.Spec.Audiences, "\x00")
		a := rs.authenticators[akey]
		if a == nil {
			if a, err = newAuthenticator(cfg, tc.token.Spec.Audiences); err != nil {
				return nil, "", 0, err
			}
			rs.authenticators[akey] = a
		}
		tr := tc.token.DeepCopy()
		start := time.Now()
		reviewToken(ctx, a, tr)
		return compareToken(&tc.expect, &tr.Status), "", time.Since(start), nil
	default:
		a := rs.authorizers[key]
		if a == nil {
			if a, err = newAuthorizer(cfg); err != nil {
				return nil, "", 0, err
			}
			rs.authorizers[key] = a
		}
		sar := tc.access.DeepCopy()
		start := time.Now()
		if err := reviewAccess(ctx, a, sar); err != nil {
			return nil, "", time.Since(start), err
		}
		return compareAccess(&tc.expect, &sar.Status), "", time.Since(start), nil
	}
}

// mismatches collects the differences between expected and got.
type mismatches []string

func (m *mismatches) value(field string, want, got interface{}) {
	if !reflect.DeepEqual(want, got) {
		*m = append(*m, fmt.Sprintf("%s: expected %s, got %s", field, show(want), show(got)))
	}
}

func (m *mismatches) contains(field, want, got string) {
	if !strings.Contains(got, want) {
		*m = append(*m, fmt.Sprintf("%s: expected to contain %q, got %q", field, want, got))
	}
}

// document compares two JSON documents and shows a line diff of their
// indented forms when they differ.
func (m *mismatches) document(field string, want, got interface{}) {
	if reflect.DeepEqual(want, got) {
		return
	}
	w, _ := json.MarshalIndent(want, "", "  ")
	g, _ := json.MarshalIndent(got, "", "  ")
	*m = append(*m, fmt.Sprintf("%s differs (- expected, + got):\n%s", field, lineDiff(string(w), string(g))))
}

func show(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// compareAdmission checks an admission response against the expectation.
func compareAdmission(e *expectation, req *admissionv1.AdmissionRequest, resp *admissionv1.AdmissionResponse) []string {
	var m mismatches
	message, code := "", int32(200)
	if resp.Result != nil {
		message, code = resp.Result.Message, resp.Result.Code
	}
	verdict := func(allowed bool) string {
		if allowed {
			return "allowed"
		}
		return "denied"
	}
	wantAllowed := e.Allowed
	if wantAllowed == nil && e.Denied != nil {
		a := !*e.Denied
		wantAllowed = &a
	}
	if wantAllowed != nil && *wantAllowed != resp.Allowed {
		line := fmt.Sprintf("expected the request to be %s, it was %s", verdict(*wantAllowed), verdict(resp.Allowed))
		if !resp.Allowed {
			line += fmt.Sprintf(" (code %d: %s)", code, message)
		}
		m = append(m, line)
	}
	if e.Message != nil {
		m.contains("message", *e.Message, message)
	}
	if e.Code != nil {
		m.value("code", *e.Code, code)
	}
	var gotPatch []interface{}
	if len(resp.Patch) > 0 {
		_ = json.Unmarshal(resp.Patch, &gotPatch)
	}
	if e.Patch != nil {
		var want []interface{}
		_ = json.Unmarshal(e.Patch, &want)
		if len(want) == 0 && len(gotPatch) == 0 {
			want, gotPatch = nil, nil
		}
		m.document("patch", normalize(want), normalize(gotPatch))
	}
	if e.Object != nil {
		gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
		wantRaw, _ := withTypeMeta(e.Object, gvk)
		got, err := patchedObject(req.Object.Raw, resp.Patch)
		if err != nil {
			m = append(m, fmt.Sprintf("object: %v", err))
		} else {
			m.document("object", normalize(wantRaw), got)
		}
	}
	if e.Warnings != nil {
		want, got := *e.Warnings, resp.Warnings
		if len(want) == 0 && len(got) == 0 {
			want, got = nil, nil
		}
		m.value("warnings", want, got)
	}
	for k, v := range e.AuditAnnotations {
		got, ok := resp.AuditAnnotations[k]
		switch {
		case !ok:
			m = append(m, fmt.Sprintf("auditAnnotations: expected %q: %q, not set", k, v))
		case got != v:
			m = append(m, fmt.Sprintf("auditAnnotations[%q]: expected %q, got %q", k, v, got))
		}
	}
	return m
}

// patchedObject applies the response's patch to the request's object: the
// object the API server would go on with.
func patchedObject(object, patch []byte) (interface{}, error) {
	if len(object) == 0 || isNull(object) {
		return nil, fmt.Errorf("the request has no object")
	}
	if len(patch) > 0 {
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, fmt.Errorf("the response's patch does not decode: %v", err)
		}
		if object, err = p.Apply(object); err != nil {
			return nil, fmt.Errorf("the response's patch does not apply to the request's object: %v", err)
		}
	}
	return normalize(object), nil
}

// normalize turns JSON (bytes or a decoded value) into plain decoded values,
// so that equal documents compare equal whatever their formatting.
func normalize(v interface{}) interface{} {
	var b []byte
	switch t := v.(type) {
	case []byte:
		b = t
	case json.RawMessage:
		b = t
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return v
		}
	}
	var out interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		return string(b)
	}
	return out
}

// compareToken checks a TokenReview status. The token itself is never
// shown.
func compareToken(e *expectation, st *authenticationv1.TokenReviewStatus) []string {
	var m mismatches
	if e.Authenticated != nil {
		m.value("authenticated", *e.Authenticated, st.Authenticated)
	}
	if e.Username != nil {
		m.value("username", *e.Username, st.User.Username)
	}
	if e.UID != nil {
		m.value("uid", *e.UID, st.User.UID)
	}
	if e.Groups != nil {
		m.value("groups", emptyNil(*e.Groups), emptyNil(st.User.Groups))
	}
	if e.Audiences != nil {
		m.value("audiences", emptyNil(*e.Audiences), emptyNil(st.Audiences))
	}
	if e.Error != nil {
		m.contains("error", *e.Error, st.Error)
	}
	return m
}

// compareAccess checks a SubjectAccessReview status.
func compareAccess(e *expectation, st *authorizationv1.SubjectAccessReviewStatus) []string {
	var m mismatches
	if e.Allowed != nil {
		m.value("allowed", *e.Allowed, st.Allowed)
	}
	if e.Denied != nil {
		m.value("denied", *e.Denied, st.Denied)
	}
	if e.Reason != nil {
		m.contains("reason", *e.Reason, st.Reason)
	}
	if e.Error != nil {
		m.contains("error", *e.Error, st.EvaluationError)
	}
	return m
}

func emptyNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// lineDiff shows the lines of a and b with "- " for lines only in a, "+ "
// for lines only in b and "  " for common lines (a longest common
// subsequence). Long runs of common lines are shortened.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(x)*len(y) > 4_000_000 {
		return "- " + strings.Join(x, "\n- ") + "\n+ " + strings.Join(y, "\n+ ")
	}
	// lcs[i][j]: length of the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		mark byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			lines = append(lines, line{' ', x[i]})
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', x[i]})
			i++
		default:
			lines = append(lines, line{'+', y[j]})
			j++
		}
	}
	// Keep three lines of context around changes.
	const context = 3
	near := make([]bool, len(lines))
	changed := false
	for k, l := range lines {
		if l.mark == ' ' {
			continue
		}
		changed = true
		for d := -context; d <= context; d++ {
			if k+d >= 0 && k+d < len(lines) {
				near[k+d] = true
			}
		}
	}
	var out strings.Builder
	skipped := false
	for k, l := range lines {
		if changed && !near[k] {
			if !skipped {
				out.WriteString("  ...\n")
				skipped = true
			}
			continue
		}
		skipped = false
		out.WriteByte(l.mark)
		out.WriteByte(' ')
		out.WriteString(l.text)
		out.WriteByte('\n')
	}
	return strings.TrimRight(out.String(), "\n")
}
