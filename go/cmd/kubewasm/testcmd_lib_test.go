//go:build cgo

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

// The example suites and configurations, from this package's directory.
const (
	examples       = "../../../examples"
	exampleSuites  = examples + "/tests"
	safeAnnotation = exampleSuites + "/config/safe-annotations.yaml"
)

// requireExampleModules fails (never skips) when a module the example
// configurations use is missing.
func requireExampleModules(t *testing.T) {
	t.Helper()
	requireFixtures(t)
	fixtures.Path(t, "safe-annotations")
	fixtures.Path(t, "annotate")
	fixtures.Path(t, "go-mutator") // examples/tests/go-admission.yaml: make fixtures-go
	fixtures.Path(t, "go-validator")
	for _, m := range []string{"opa-configmap", "gatekeeper-required-labels", "gatekeeper-allowed-repos"} {
		fixtures.Path(t, m)
	}
}

// TestExampleSuites: the suites shipped in examples/tests pass.
func TestExampleSuites(t *testing.T) {
	requireExampleModules(t)
	suites, err := filepath.Glob(exampleSuites + "/*.yaml")
	if err != nil || len(suites) < 4 {
		t.Fatalf("example suites: %v %v", suites, err)
	}
	code, out, errOut := runCLI(t, "", append([]string{"test"}, suites...)...)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "ok: ") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"PASS  " + exampleSuites + "/magic.yaml: a ConfigMap with not-allowed-value is rejected", "PASS  " + exampleSuites + "/annotate.yaml: the owner annotation is added"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestFailingCase: a case whose expectation does not hold fails the run
// (exit 1) and its FAIL line shows what differs; the other cases still run.
func TestFailingCase(t *testing.T) {
	requireExampleModules(t)
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	admission, authn, authz := abs(examples+"/admission.yaml"), abs(examples+"/authentication.yaml"), abs(examples+"/authorization.yaml")
	cm, forbidden := abs(exampleSuites+"/requests/configmap-create.json"), abs(exampleSuites+"/requests/configmap-forbidden.yaml")
	for _, tc := range []struct {
		name   string
		config string
		step   string
		req    string
		expect string
		want   []string // substrings of the output after the FAIL line
	}{
		{"patch", admission, "mutating", cm, "{patch: [{op: add, path: /data/magic-value, value: foo}]}",
			[]string{"patch differs (- expected, + got):", `-     "value": "foo"`, `+     "value": "foobar"`, "magic-mutator: mutated"}},
		{"object", admission, "admit", cm, "{object: {metadata: {name: settings, namespace: default, annotations: {puzzle.ch/owner: team-a}}, data: {color: blue}}}",
			[]string{"object differs (- expected, + got):", `+     "magic-value": "foobar"`, `    "color": "blue"`}},
		{"verdict, code and message", admission, "admit", forbidden, "{allowed: true, code: 400, message: not allowed in secrets}",
			[]string{"expected the request to be allowed, it was denied (code 403: ", "code: expected 400, got 403", `message: expected to contain "not allowed in secrets", got "`, "response: denied, code 403"}},
		{"warnings", admission, "admit", cm, "{warnings: [careful]}",
			[]string{`warnings: expected ["careful"], got null`}},
		{"audit annotation", admission, "admit", cm, "{auditAnnotations: {magic: x}}",
			[]string{`auditAnnotations: expected "magic": "x", not set`}},
		{"authentication", authn, "authenticate", `{spec: {token: magic-token}}`, "{username: someone-else, groups: [magic-group, admins]}",
			[]string{`username: expected "someone-else", got "magic-user"`, `groups: expected ["magic-group","admins"], got ["magic-group"]`}},
		{"authorization", authz, "authorize", `{spec: {user: u, groups: [other], resourceAttributes: {verb: get, version: v1, resource: configmaps}}}`, "{allowed: true}",
			[]string{"allowed: expected true, got false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if filepath.IsAbs(req) {
				req = `"` + req + `"`
			}
			suite := "configuration: " + tc.config + "\nstep: " + tc.step + "\ncases:\n" +
				"- name: failing\n  request: " + req + "\n  expect: " + tc.expect + "\n" +
				"- name: passing\n  request: " + req + "\n  expect: {error: \"\"}\n"
			if tc.step != "authenticate" && tc.step != "authorize" {
				suite = strings.Replace(suite, `expect: {error: ""}`, "expect: {message: \"\"}", 1)
			}
			dir := writeFiles(t, map[string]string{"suite.yaml": suite})
			code, out, errOut := runCLI(t, "", "test", filepath.Join(dir, "suite.yaml"))
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			_, failure, ok := strings.Cut(out, "FAIL  "+filepath.Join(dir, "suite.yaml")+": failing")
			if !ok || !strings.Contains(out, "PASS  "+filepath.Join(dir, "suite.yaml")+": passing") || !strings.Contains(out, "FAIL: 1 passed, 1 failed, 1 suite(s)") {
				t.Fatalf("want a FAIL line, a PASS line and the summary:\n%s%s", out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(failure, w) {
					t.Errorf("failure lacks %q:\n%s", w, failure)
				}
			}
			if strings.Contains(out, "magic-token") {
				t.Errorf("the output shows the token:\n%s", out)
			}
		})
	}
}

// TestSuiteConfigurationError: a configuration that does not load, or
// settings for a configuration of several modules, exit 2 naming the suite,
// the case and the field.
func TestSuiteConfigurationError(t *testing.T) {
	requireExampleModules(t)
	admission, err := filepath.Abs(examples + "/admission.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, suite, want string }{
		{"invalid configuration", "configuration: bad.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {allowed: true}}\n",
			`cases[0] "a": field "configuration": admission configuration`},
		{"settings for several modules", "configuration: " + admission + "\nsettings: {x: 1}\ncases:\n- {name: a, step: admit, request: req.json, expect: {allowed: true}}\n",
			`cases[0] "a": field "settings": reading admission configuration: ` + admission + `: settings given on the command line (or in a test suite) replace the settings of the only module, but the configuration has 3 modules`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"suite.yaml": tc.suite, "bad.yaml": "modules:\n- module: nowhere.wasm\n", "req.json": bareConfigMap})
			code, out, errOut := runCLI(t, "", "test", filepath.Join(dir, "suite.yaml"))
			if code != 2 || !strings.Contains(errOut, filepath.Join(dir, "suite.yaml")+": "+tc.want) {
				t.Fatalf("exit %d, want 2 and %q\n%s%s", code, tc.want, out, errOut)
			}
		})
	}
}

// TestAdmitBareRequest: kubewasm admit takes a bare AdmissionRequest whose
// object lacks kind and apiVersion (Kubewarden test_data), from a file or
// stdin; the modules see the object completed as the API server sends it.
func TestAdmitBareRequest(t *testing.T) {
	requireFixtures(t)
	bare := `{"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"}, "namespace": "default", "name": "magic", "operation": "CREATE",
	  "userInfo": {"username": "magic-user"}, "object": {"metadata": {"name": "magic", "namespace": "default"}, "data": {"not-allowed-value": "x"}}}`
	file := filepath.Join(t.TempDir(), "bare.json")
	if err := os.WriteFile(file, []byte(bare), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"file", "", []string{"admit", "--config", "../../testdata/admission.yaml", file}},
		{"stdin", bare, []string{"admit", "--config", "../../testdata/admission.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.stdin, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal([]byte(out), &review); err != nil {
				t.Fatal(err)
			}
			r := review.Response
			// magic-validator only answers for a v1 ConfigMap: its rejection
			// shows it got the kind and apiVersion.
			if r == nil || r.Allowed || r.Result == nil || r.Result.Code != 403 || !strings.Contains(r.Result.Message, "not-allowed-value") {
				t.Fatalf("want magic-validator's rejection, got %+v\n%s", r, errOut)
			}
			if !strings.Contains(string(r.Patch), "magic-value") || r.UID != "u1" {
				t.Fatalf("want magic-mutator's patch and the request's uid, got %+v", r)
			}
		})
	}
}

// TestAdmitSettingsFlags: --settings-json and --settings-path replace the
// settings of a configuration's only module.
func TestAdmitSettingsFlags(t *testing.T) {
	requireExampleModules(t)
	pod := exampleSuites + "/requests/pod-create.json"
	settingsFile := filepath.Join(t.TempDir(), "settings.yaml")
	if err := os.WriteFile(settingsFile, []byte("denied_annotations: [team]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		args        []string
		wantCode    int
		wantAllowed bool
		want        string // a substring of the rejection's message, or of stderr
	}{
		{"configured settings", []string{"--config", safeAnnotation}, 0, false, "mandatory annotations are missing: puzzle.ch/owner"},
		{"--settings-json", []string{"--config", safeAnnotation, "--settings-json", `{"denied_annotations":["cc-center"]}`}, 0, false, "The following annotations are not allowed: cc-center"},
		{"--settings-json, no settings", []string{"--config", safeAnnotation, "--settings-json", `{}`}, 0, true, ""},
		{"--settings-path", []string{"--config", safeAnnotation, "--settings-path", settingsFile}, 0, false, "The following annotations are not allowed: team"},
		{"invalid settings", []string{"--config", safeAnnotation, "--settings-json", `{"denied_annotations": 1}`}, 1, false, "safe-annotations"},
		{"several modules", []string{"--config", examples + "/admission.yaml", "--settings-json", `{}`}, 1, false, "the configuration has 3 modules"},
		{"both flags", []string{"--config", safeAnnotation, "--settings-json", `{}`, "--settings-path", settingsFile}, 2, false, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", append(append([]string{"admit"}, tc.args...), pod)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.wantCode, out, errOut)
			}
			if code != 0 {
				if !strings.Contains(errOut, tc.want) {
					t.Fatalf("stderr lacks %q:\n%s", tc.want, errOut)
				}
				return
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal([]byte(out), &review); err != nil {
				t.Fatal(err)
			}
			r := review.Response
			if r.Allowed != tc.wantAllowed || (!r.Allowed && !strings.Contains(r.Result.Message, tc.want)) {
				t.Fatalf("want allowed=%v and %q, got %+v", tc.wantAllowed, tc.want, r)
			}
		})
	}
}

// TestAdmitRego: kubewasm admit runs the Rego fixtures (type opa and
// gatekeeper) on Kubewarden-style test data; --settings-json replaces an opa
// policy's data document and a gatekeeper policy's parameters, and a settings
// value that is not a mapping is a configuration error naming the field.
func TestAdmitRego(t *testing.T) {
	requireExampleModules(t)
	pod := exampleSuites + "/requests/pod-create.json"
	opaConfig := exampleSuites + "/config/rego-opa.yaml"
	// A configuration with only the allowed-repos module, for the settings flags.
	repos := filepath.Join(t.TempDir(), "repos.yaml")
	reposWasm := fixtures.Path(t, "gatekeeper-allowed-repos")
	if err := os.WriteFile(repos, []byte("modules:\n- name: allowed-repos\n  type: gatekeeper\n  module: "+reposWasm+"\n  settings: {repos: [quay.io/]}\n"+
		"  rules: [{operations: [CREATE], apiGroups: [\"\"], apiVersions: [v1], resources: [pods]}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		args        []string
		wantCode    int
		wantAllowed bool
		want        string // the rejection's message, or a substring of stderr
	}{
		{"opa, configured settings", []string{"--config", opaConfig}, 0, true, ""},
		{"opa, --settings-json", []string{"--config", opaConfig, "--settings-json", `{"forbidden_namespaces": ["default"]}`}, 0, false, "Pods may not be created in namespace default"},
		{"opa, settings not a mapping", []string{"--config", opaConfig, "--settings-json", `["default"]`}, 1, false, `field "settings": must be a mapping for type opa`},
		{"gatekeeper, both modules", []string{"--config", exampleSuites + "/config/gatekeeper.yaml"}, 0, false, `container <nginx> has an invalid image repo <nginx:1.27>, allowed repos are ["registry.example.com/", "ghcr.io/example/"]`},
		{"gatekeeper, configured parameters", []string{"--config", repos}, 0, false, `container <nginx> has an invalid image repo <nginx:1.27>, allowed repos are ["quay.io/"]`},
		{"gatekeeper, --settings-json", []string{"--config", repos, "--settings-json", `{"repos": ["nginx"]}`}, 0, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", append(append([]string{"admit"}, tc.args...), pod)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.wantCode, out, errOut)
			}
			if code != 0 {
				if !strings.Contains(errOut, tc.want) {
					t.Fatalf("stderr lacks %q:\n%s", tc.want, errOut)
				}
				return
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal([]byte(out), &review); err != nil {
				t.Fatal(err)
			}
			r := review.Response
			if r.Allowed != tc.wantAllowed || (!r.Allowed && (r.Result.Code != 403 || !strings.HasSuffix(r.Result.Message, tc.want))) {
				t.Fatalf("want allowed=%v and %q, got %+v\n%s", tc.wantAllowed, tc.want, r, errOut)
			}
		})
	}
}
