package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// writeFiles writes name -> content into a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const bareConfigMap = `{"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"}, "operation": "CREATE",
 "object": {"metadata": {"name": "c"}, "data": {"a": "b"}}}`

// TestBadSuite: an invalid suite exits 2 before anything runs, and the error
// names the file, the case and the field. None of these needs a module.
func TestBadSuite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		suite string
		want  []string // substrings of stderr
	}{
		{"unknown top-level field", "configuration: c.yaml\ncase: []\n", []string{`suite.yaml: unknown field "case"`}},
		{"no configuration", "cases:\n- {name: a, step: admit, request: req.json, expect: {allowed: true}}\n", []string{`suite.yaml: field "configuration": required`}},
		{"missing configuration file", "configuration: nowhere.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {allowed: true}}\n", []string{`suite.yaml: field "configuration": stat `, "nowhere.yaml"}},
		{"no cases", "configuration: c.yaml\n", []string{`field "cases": the suite has no cases`}},
		{"unknown case field", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {allowed: true}, expected: {}}\n", []string{`suite.yaml: cases[0] "a": unknown field "expected"`}},
		{"unknown expectation", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {allow: true}}\n", []string{`suite.yaml: cases[0] "a": field "expect.allow": unknown expectation for an admission step`}},
		{"expectation of another step", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {authenticated: true}}\n", []string{`cases[0] "a": field "expect.authenticated": unknown expectation`}},
		{"wrong type", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {code: forbidden}}\n", []string{`cases[0] "a": field "expect.code": cannot unmarshal string`}},
		{"bad patch", "configuration: c.yaml\ncases:\n- {name: a, step: mutating, request: req.json, expect: {patch: [{path: /x}]}}\n", []string{`cases[0] "a": field "expect.patch[0]": has no "op"`}},
		{"contradiction", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {allowed: true, denied: true}}\n", []string{`field "expect.denied": contradicts`}},
		{"no expectation", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {}}\n", []string{`cases[0] "a": field "expect": no expectation`}},
		{"no step", "configuration: c.yaml\ncases:\n- {name: a, request: req.json, expect: {allowed: true}}\n", []string{`cases[0] "a": field "step": required`}},
		{"unknown step", "configuration: c.yaml\ncases:\n- {name: a, step: admission, request: req.json, expect: {allowed: true}}\n", []string{`cases[0] "a": field "step": unknown step "admission"`}},
		{"missing request file", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: nope.json, expect: {allowed: true}}\n", []string{`cases[0] "a": field "request": open `, "nope.json"}},
		{"request with a typo", "configuration: c.yaml\ncases:\n- name: a\n  step: admit\n  request: {kind: {version: v1, kind: ConfigMap}, operation: CREATE, objekt: {}}\n  expect: {allowed: true}\n", []string{`cases[0] "a": field "request": decoding AdmissionRequest: unknown field "objekt"`}},
		{"request without kind", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: {operation: CREATE}, expect: {allowed: true}}\n", []string{`cases[0] "a": field "request": request.kind must name`}},
		{"token review for admission", "configuration: c.yaml\ncases:\n- {name: a, step: authenticate, request: req.json, expect: {authenticated: true}}\n", []string{`cases[0] "a": field "request (req.json)": decoding TokenReview: `}},
		{"duplicate names", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {allowed: true}}\n- {name: a, step: admit, request: req.json, expect: {allowed: true}}\n", []string{`cases[1] "a": field "name": the name of cases[0] too`}},
		{"two kinds of configuration", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {allowed: true}}\n- {name: b, step: authorize, request: {spec: {user: u, nonResourceAttributes: {verb: get, path: /}}}, expect: {allowed: true}}\n", []string{`cases[1] "b": field "step": step "authorize" needs an authorization configuration, but cases[0] "a" runs through an admission configuration`}},
		{"every problem at once", "configuration: c.yaml\ncases:\n- {name: a, step: admit, request: req.json, expect: {allow: true}}\n- {step: admit, request: req.json, expect: {code: x}}\n", []string{`cases[0] "a": field "expect.allow"`, `cases[1]: field "name": required`, `cases[1]: field "expect.code"`, "3 problem(s)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"suite.yaml": tc.suite, "c.yaml": "modules: []\n", "req.json": bareConfigMap})
			suite := filepath.Join(dir, "suite.yaml")
			var out, errOut bytes.Buffer
			code := run([]string{"test", suite}, strings.NewReader(""), &out, &errOut)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", code, out.String(), errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
			if !strings.Contains(errOut.String(), suite) {
				t.Errorf("the error does not name the suite file %s:\n%s", suite, errOut.String())
			}
			if out.Len() != 0 {
				t.Errorf("nothing should run, got:\n%s", out.String())
			}
		})
	}
}

func TestTestUsage(t *testing.T) {
	for _, args := range [][]string{{"test"}, {"test", "--run", "(", "s.yaml"}, {"test", "--bogus", "s.yaml"}} {
		var out, errOut bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errOut.String())
		}
	}
}

// TestDecodeAdmission: a review or a bare request (Kubewarden test_data);
// objects get kind/apiVersion from request.kind and resource is guessed.
func TestDecodeAdmission(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		wantObject   string // a substring of request.object after completion
		wantResource string
		wantErr      string
	}{
		{"bare request, object without kind", bareConfigMap, `"apiVersion":"v1"`, "configmaps", ""},
		{"bare request, grouped kind", `{"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}, "operation": "CREATE", "object": {"metadata": {"name": "d"}}}`, `"apiVersion":"apps/v1"`, "deployments", ""},
		{"review", `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": ` + bareConfigMap + `}`, `"kind":"ConfigMap"`, "configmaps", ""},
		{"review without type meta", `{"request": ` + bareConfigMap + `}`, `"kind":"ConfigMap"`, "configmaps", ""},
		{"object keeps its own kind", `{"kind": {"version": "v1", "kind": "ConfigMap"}, "resource": {"version": "v1", "resource": "configmaps"}, "operation": "CREATE", "object": {"apiVersion": "v1", "kind": "ConfigMap"}}`, `{"apiVersion": "v1", "kind": "ConfigMap"}`, "configmaps", ""},
		{"review without request", `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}`, "", "", "has no request"},
		{"unknown field", `{"kind": {"version": "v1", "kind": "ConfigMap"}, "operation": "CREATE", "bogus": 1}`, "", "", `decoding AdmissionRequest: json: unknown field "bogus"`},
		{"not a map", `[1]`, "", "", "decoding AdmissionReview"},
		{"bare request without kind", `{"uid": "u", "operation": "CREATE"}`, "", "", "request.kind must name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			review, err := decodeAdmission([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(review.Request.Object.Raw); !strings.Contains(got, tc.wantObject) {
				t.Errorf("object %s lacks %s", got, tc.wantObject)
			}
			if review.Request.Resource.Resource != tc.wantResource {
				t.Errorf("resource %q, want %q", review.Request.Resource.Resource, tc.wantResource)
			}
		})
	}
}

// TestOverrideSettings: the settings of the only module are replaced, in a
// modules document or behind an AdmissionConfiguration (inline or path);
// several modules are an error.
func TestOverrideSettings(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"modules.yaml":   "modules:\n- name: m\n  module: m.wasm\n  settings: {old: 1}\n",
		"two.yaml":       "modules:\n- module: a.wasm\n- module: b.wasm\n",
		"inline.yaml":    "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: Other\n  path: x\n- name: WASM\n  configuration:\n    modules:\n    - module: m.wasm\n",
		"path.yaml":      "kind: AdmissionConfiguration\nplugins:\n- name: WASM\n  path: sub/wasm.yaml\n",
		"sub/wasm.yaml":  "modules:\n- module: m.wasm\n",
		"noplugin.yaml":  "kind: AdmissionConfiguration\nplugins:\n- name: Other\n",
		"notamap.yaml":   "- 1\n",
		"emptymods.yaml": "modules: []\n",
	})
	settings := json.RawMessage(`{"new":true}`)
	for _, tc := range []struct {
		file, wantDir, wantErr string
	}{
		{"modules.yaml", dir, ""},
		{"inline.yaml", dir, ""},
		{"path.yaml", filepath.Join(dir, "sub"), ""},
		{"two.yaml", "", "the configuration has 2 modules"},
		{"emptymods.yaml", "", "the configuration has 0 modules"},
		{"noplugin.yaml", "", "has no plugin named WASM"},
		{"notamap.yaml", "", "not a map"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, gotDir, err := configSource{path: filepath.Join(dir, tc.file), settings: settings}.load(binding.KindAdmission)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.file) {
					t.Fatalf("want an error naming %s and %q, got %v", tc.file, tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Modules []map[string]json.RawMessage `json:"modules"`
			}
			if err := json.Unmarshal(data, &doc); err != nil || len(doc.Modules) != 1 {
				t.Fatalf("not a one-module document: %s (%v)", data, err)
			}
			if got := string(doc.Modules[0]["settings"]); got != string(settings) {
				t.Errorf("settings %s, want %s", got, settings)
			}
			if gotDir != tc.wantDir {
				t.Errorf("base directory %q, want %q", gotDir, tc.wantDir)
			}
		})
	}
	// Without settings the file is given as it is.
	data, _, err := configSource{path: filepath.Join(dir, "two.yaml")}.load(binding.KindAdmission)
	if err != nil || !strings.Contains(string(data), "b.wasm") {
		t.Fatalf("got %s, %v", data, err)
	}
}

func TestLineDiff(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"x\ny\nz", "x\ny\nz", "  x\n  y\n  z"},
		{"x\ny\nz", "x\nY\nz", "  x\n- y\n+ Y\n  z"},
		{"a\nb", "a\nb\nc", "  a\n  b\n+ c"},
		{"1\n2\n3\n4\n5\n6\n7\n8\n9", "1\n2\n3\n4\n5\n6\n7\n8\nX", "  ...\n  6\n  7\n  8\n- 9\n+ X"},
	} {
		if got := lineDiff(tc.a, tc.b); got != tc.want {
			t.Errorf("lineDiff(%q, %q):\n%s\nwant:\n%s", tc.a, tc.b, got, tc.want)
		}
	}
}
