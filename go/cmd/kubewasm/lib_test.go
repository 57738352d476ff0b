//go:build cgo

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

// requireFixtures fails (never skips) when the modules the testdata
// configurations use are missing.
func requireFixtures(t *testing.T) {
	for _, m := range []string{"magic-authenticator", "magic-authorizer", "magic-mutator", "magic-validator"} {
		fixtures.Path(t, m)
	}
	if fixtures.Dir() != fixtures.DefaultDir() {
		t.Logf("note: testdata configurations use build/modules, not $KUBEWASM_MODULES")
	}
}

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheck(t *testing.T) {
	requireFixtures(t)
	for _, tc := range []struct{ kind, file, want string }{
		{"authentication", "../../testdata/authentication.yaml", "magic-authenticator"},
		{"authorization", "../../testdata/authorization.yaml", "magic-authorizer"},
		{"admission", "../../testdata/admission.yaml", "magic-mutator, magic-validator"},
	} {
		code, out, errOut := runCLI(t, "", "check", "--kind", tc.kind, tc.file)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Fatalf("check %s: exit %d\n%s%s", tc.file, code, out, errOut)
		}
	}
	bad := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("modules:\n- module: nowhere.wasm\n  bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "", "check", "--kind", "admission", bad); code != 1 || errOut == "" {
		t.Fatalf("invalid configuration: exit %d\n%s%s", code, out, errOut)
	}
	// The matching fields are validated by the admission plugin; check reports
	// their problems with the file, the module and the field too.
	rules := t.TempDir() + "/rules.yaml"
	config := "modules:\n- name: v\n  module: " + fixtures.Path(t, "magic-validator") +
		"\n  rules: [{operations: [EXPLODE], apiGroups: [''], apiVersions: [v1], resources: [configmaps]}]\n  matchPolicy: Fuzzy\n"
	if err := os.WriteFile(rules, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "check", "--kind", "admission", rules)
	for _, want := range []string{rules + `: admission plugin "WASM": invalid admission configuration (2 problems):`,
		`modules[0] "v": rules[0].operations[0]: Unsupported value: "EXPLODE"`, `modules[0] "v": matchPolicy: Unsupported value: "Fuzzy"`} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("invalid rule: want exit 1 and %q, got exit %d\n%s%s", want, code, out, errOut)
		}
	}
}

func TestAuthenticateCLI(t *testing.T) {
	requireFixtures(t)
	code, out, errOut := runCLI(t, "", "authenticate", "--config", "../../testdata/authentication.yaml", "../../testdata/tokenreview.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var tr authenticationv1.TokenReview
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatal(err)
	}
	if !tr.Status.Authenticated || tr.Status.User.Username != "magic-user" {
		t.Fatalf("status %+v", tr.Status)
	}
	// From stdin, YAML, a token no module knows.
	code, out, _ = runCLI(t, "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: nope\n", "authenticate", "--config", "../../testdata/authentication.yaml", "-o", "yaml")
	if code != 0 || strings.Contains(out, "authenticated: true") || !strings.Contains(out, "token: nope") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestAuthorizeCLI(t *testing.T) {
	requireFixtures(t)
	code, out, errOut := runCLI(t, "", "authorize", "--config", "../../testdata/authorization.yaml", "../../testdata/subjectaccessreview.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var sar authorizationv1.SubjectAccessReview
	if err := json.Unmarshal([]byte(out), &sar); err != nil {
		t.Fatal(err)
	}
	if !sar.Status.Allowed || sar.Status.Denied {
		t.Fatalf("status %+v", sar.Status)
	}
}

// TestAdmitCLI is the done-criterion of the issue: the magic mutator's patch
// and the magic validator's rejection for a ConfigMap carrying
// not-allowed-value.
func TestAdmitCLI(t *testing.T) {
	requireFixtures(t)
	code, out, errOut := runCLI(t, "", "admit", "--config", "../../testdata/admission.yaml", "../../testdata/configmap-review.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal([]byte(out), &review); err != nil {
		t.Fatal(err)
	}
	r := review.Response
	if r == nil || r.Allowed || r.Result == nil || r.Result.Code != 403 || !strings.Contains(r.Result.Message, `admission module "magic-validator" (WASM) denied the request`) {
		t.Fatalf("want the validator's rejection, got %+v", r)
	}
	if r.UID != review.Request.UID {
		t.Fatalf("uid %q, want %q", r.UID, review.Request.UID)
	}
	if !strings.Contains(string(r.Patch), "magic-value") || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("want the mutator's patch, got %q", r.Patch)
	}
	if !strings.Contains(errOut, "mutating:  matched magic-mutator") || !strings.Contains(errOut, "validating: matched magic-validator") {
		t.Fatalf("summary:\n%s", errOut)
	}
	if !strings.Contains(out, base64.StdEncoding.EncodeToString(r.Patch)) {
		t.Fatalf("patch not base64 on output")
	}
}
