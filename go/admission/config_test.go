package admission

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// TestMatchingFieldsConfig: the plugin validates the matching fields the
// library passes through unread, as the API server validates a webhook
// configuration, naming the module and the field path; a bad value is never
// accepted.
func TestMatchingFieldsConfig(t *testing.T) {
	const rule = `{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}`
	cases := []struct {
		name   string
		module string // the fields of module "m" after its name
		want   []string
	}{
		{"valid", `"rules": [` + rule + `], "namespaceSelector": {"matchLabels": {"a": "b"}}, "matchPolicy": "Exact", "sideEffects": "NoneOnDryRun", "matchConditions": [{"name": "x", "expression": "true"}]`, nil},
		{"unknown operation", `"rules": [{"operations": ["EXPLODE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]`,
			[]string{`modules[0] "m": rules[0].operations[0]: Unsupported value: "EXPLODE": supported values: "*", "CONNECT", "CREATE", "DELETE", "UPDATE"`}},
		{"missing lists", `"rules": [{"operations": ["CREATE"], "resources": []}]`,
			[]string{`modules[0] "m": rules[0].apiGroups: Required value`, `rules[0].apiVersions: Required value`, `rules[0].resources: Required value`}},
		{"star with others", `"rules": [{"operations": ["*", "CREATE"], "apiGroups": ["*", "apps"], "apiVersions": ["v1"], "resources": ["*", "pods"]}]`,
			[]string{`rules[0].operations: Invalid value: ["*","CREATE"]: if '*' is present`, `rules[0].apiGroups: Invalid value: ["*","apps"]: if '*' is present`, `rules[0].resources: Invalid value: ["*","pods"]: if '*' is present`}},
		{"bad subresource", `"rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods/", "a/b/c", "x/*", "x/status"]}]`,
			[]string{`rules[0].resources[0]: Invalid value: "pods/"`, `rules[0].resources[1]: Invalid value: "a/b/c"`, `rules[0].resources[3]: Invalid value: "x/status": if 'x/*' is present`}},
		{"bad scope", `"rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Galaxy"}]`,
			[]string{`rules[0].scope: Unsupported value: "Galaxy"`}},
		{"unknown rule field", `"rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "colour": "blue"}]`,
			[]string{`modules[0] "m": rules: Invalid value: unknown field "colour"`}},
		{"rules not a list", `"rules": "everything"`,
			[]string{`modules[0] "m": rules: Invalid value: must be a list, got a JSON string`}},
		{"operation not a string", `"rules": [{"operations": [5], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]`,
			[]string{`modules[0] "m": rules.operations: Invalid value: must be a string, got a JSON number`}},
		{"bad selector operator", `"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}`,
			[]string{`modules[0] "m": namespaceSelector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator`}},
		{"bad label", `"objectSelector": {"matchLabels": {"a b": "c"}}`,
			[]string{`modules[0] "m": objectSelector.matchLabels: Invalid value: "a b"`}},
		{"selector values for Exists", `"objectSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}`,
			[]string{`objectSelector.matchExpressions[0].values: Forbidden: may not be specified when ` + "`operator`" + ` is 'Exists' or 'DoesNotExist'`}},
		{"label value not a string", `"objectSelector": {"matchLabels": {"a": 1}}`,
			[]string{`modules[0] "m": objectSelector.matchLabels: Invalid value: must be a string, got a JSON number`}},
		{"selector without key", `"namespaceSelector": {"matchExpressions": [{"operator": "Exists"}]}`,
			[]string{`modules[0] "m": namespaceSelector.matchExpressions[0].key: Invalid value: ""`}},
		{"selector not a map", `"namespaceSelector": ["a"]`,
			[]string{`modules[0] "m": namespaceSelector: Invalid value: must be a map, got a JSON array`}},
		{"match conditions", `"matchConditions": [{"name": "", "expression": "true"}, {"name": "a", "expression": " "}, {"name": "a", "expression": "true"}, {"name": "not valid!", "expression": "true"}]`,
			[]string{`matchConditions[0].name: Required value`, `matchConditions[1].expression: Required value`, `matchConditions[2].name: Duplicate value: "a"`, `matchConditions[3].name: Invalid value: "not valid!"`}},
		{"match condition field", `"matchConditions": [{"name": "a", "expresion": "true"}]`,
			[]string{`modules[0] "m": matchConditions: Invalid value: unknown field "expresion"`}},
		{"too many match conditions", `"matchConditions": [` + strings.Repeat(`{"name": "a", "expression": "true"},`, 64) + `{"name": "a", "expression": "true"}]`,
			[]string{`matchConditions: Too many: 65: must have at most 64 items`}},
		{"enums", `"matchPolicy": "Fuzzy", "reinvocationPolicy": "Always", "sideEffects": "Maybe"`,
			[]string{`matchPolicy: Unsupported value: "Fuzzy": supported values: "Equivalent", "Exact"`, `reinvocationPolicy: Unsupported value: "Always"`, `sideEffects: Unsupported value: "Maybe"`}},
		{"IfNeeded on a validating module", `"reinvocationPolicy": "IfNeeded"`,
			[]string{`modules[0] "m": reinvocationPolicy: Forbidden: IfNeeded is only meaningful for a mutating module`}},
		{"IfNeeded on a mutating module", `"mutating": true, "reinvocationPolicy": "IfNeeded"`, nil},
		{"enum not a string", `"matchPolicy": 1`,
			[]string{`modules[0] "m": matchPolicy: Invalid value: must be a string, got a JSON number`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"modules": [{"name": "m", "module": "/m.wasm", "timeout": "10s", "failurePolicy": "Fail", ` + tc.module + `}]}`
			_, err := newWithAdmitter(&fakeAdmitter{modulesJSON: doc})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error, got none")
			}
			for _, w := range append(tc.want, `admission plugin "WASM": invalid admission configuration (`) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

// TestConfigEveryProblemAtOnce: a decode error in one module hides neither
// the other fields' problems nor the other modules'.
func TestConfigEveryProblemAtOnce(t *testing.T) {
	doc := `{"modules": [
		{"name": "a", "rules": "x", "matchPolicy": "Fuzzy"},
		{"name": "b", "objectSelector": 3},
		{"name": "c", "rules": [{"operations": ["EXPLODE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}]}`
	_, err := newWithAdmitter(&fakeAdmitter{modulesJSON: doc})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, w := range []string{
		"invalid admission configuration (4 problems):\n- modules[0] \"a\": rules: ",
		`modules[0] "a": rules: Invalid value: must be a list`,
		`modules[0] "a": matchPolicy: Unsupported value: "Fuzzy"`,
		`modules[1] "b": objectSelector: Invalid value: must be a map`,
		`modules[2] "c": rules[0].operations[0]: Unsupported value: "EXPLODE"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

// TestMatchingDefaults: the plugin applies the webhook defaults to the fields
// it owns.
func TestMatchingDefaults(t *testing.T) {
	doc := `{"modules": [
		{"name": "v", "failurePolicy": "Ignore", "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]},
		{"name": "m", "mutating": true}]}`
	p, err := newWithAdmitter(&fakeAdmitter{modulesJSON: doc})
	if err != nil {
		t.Fatal(err)
	}
	mods := p.Modules()
	v, m := mods[0], mods[1]
	if *v.MatchPolicy != admissionregistrationv1.Equivalent || *v.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		*v.Rules[0].Scope != admissionregistrationv1.AllScopes || v.ReinvocationPolicy != nil ||
		v.NamespaceSelector == nil || v.ObjectSelector == nil || len(v.ValidationActions) != 1 || v.ValidationActions[0] != admissionregistrationv1.Deny {
		t.Errorf("validating defaults: %+v", v)
	}
	if *v.FailurePolicy != admissionregistrationv1.Ignore {
		t.Errorf("failurePolicy is the library's: want Ignore kept, got %v", *v.FailurePolicy)
	}
	if *m.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy {
		t.Errorf("mutating reinvocationPolicy: %v", *m.ReinvocationPolicy)
	}
}
