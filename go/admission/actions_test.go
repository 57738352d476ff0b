package admission

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/warning"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/record"
)

const (
	deny  = admissionregistrationv1.Deny
	warn  = admissionregistrationv1.Warn
	audit = admissionregistrationv1.Audit
)

func actions(a ...admissionregistrationv1.ValidationAction) []admissionregistrationv1.ValidationAction {
	return a
}

// behaviour is what a fake module does when called: "allow", "reject",
// "fail" (a failure under failurePolicy Fail), "ignore" (a failure under
// failurePolicy Ignore) or "mutate" (adds data.<module name>).
type behaviour string

// libraryLike answers as the library does: the modules of a call run in
// order, each seeing the previous mutation; the first rejection or Fail
// failure ends the call without a patch.
func libraryLike(do map[string]behaviour) func(fakeCall) (*Result, error) {
	return func(c fakeCall) (*Result, error) {
		res := &Result{Allowed: true}
		var patch []map[string]any
		for _, id := range c.ids {
			name := moduleName(id)
			switch do[name] {
			case "reject":
				res.Outcomes = append(res.Outcomes, binding.Outcome{Module: name, Outcome: "rejected"})
				return &Result{Allowed: false, Module: name, Status: &metav1.Status{Code: 403, Message: "no magic from " + name},
					Warnings: res.Warnings, Outcomes: res.Outcomes}, nil
			case "fail":
				res.Outcomes = append(res.Outcomes, binding.Outcome{Module: name, Outcome: "error", Error: "trap: unreachable"})
				return &Result{Allowed: false, Module: name, Error: `module "` + name + `" failed: trap: unreachable`, Outcomes: res.Outcomes}, nil
			case "ignore":
				res.Outcomes = append(res.Outcomes, binding.Outcome{Module: name, Outcome: "ignored", Error: "timeout"})
			case "mutate":
				patch = append(patch, map[string]any{"op": "add", "path": "/data/" + name, "value": "x"})
				res.Outcomes = append(res.Outcomes, binding.Outcome{Module: name, Outcome: "mutated"})
			default:
				res.Outcomes = append(res.Outcomes, binding.Outcome{Module: name, Outcome: "allowed"})
			}
			res.Warnings = append(res.Warnings, "own warning of "+name)
		}
		if len(patch) > 0 {
			res.Patch, _ = json.Marshal(patch)
		}
		return res, nil
	}
}

// TestValidationActions: what a module's "no" does under each
// validationActions, in both phases, for rejections and for failures.
func TestValidationActions(t *testing.T) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}
	cases := []struct {
		name      string
		actions   []admissionregistrationv1.ValidationAction
		mutating  bool
		do        behaviour
		policy    admissionregistrationv1.FailurePolicyType
		wantCode  int32  // 0: admitted
		wantWarn  string // the validationActions warning; "" none
		wantAudit string // the validation-failure annotation; "" none
	}{
		{"default is Deny", nil, false, "reject", admissionregistrationv1.Fail,
			http.StatusForbidden, "", ""},
		{"Deny", actions(deny), false, "reject", admissionregistrationv1.Fail,
			http.StatusForbidden, "", ""},
		{"Warn", actions(warn), false, "reject", admissionregistrationv1.Fail,
			0, `Validation failed for admission module "m0" (WASM): no magic from m0`, ""},
		{"Audit", actions(audit), false, "reject", admissionregistrationv1.Fail,
			0, "", `[{"message":"no magic from m0","module":"m0","validationActions":["Audit"]}]`},
		{"Warn and Audit", actions(warn, audit), false, "reject", admissionregistrationv1.Fail,
			0, `Validation failed for admission module "m0" (WASM): no magic from m0`,
			`[{"message":"no magic from m0","module":"m0","validationActions":["Warn","Audit"]}]`},
		{"Deny and Audit", actions(audit, deny), false, "reject", admissionregistrationv1.Fail,
			http.StatusForbidden, "", `[{"message":"no magic from m0","module":"m0","validationActions":["Audit","Deny"]}]`},
		{"Warn, failure under Fail", actions(warn), false, "fail", admissionregistrationv1.Fail,
			0, `Validation failed for admission module "m0" (WASM): failed calling the module: trap: unreachable`, ""},
		{"Audit, failure under Fail", actions(audit), false, "fail", admissionregistrationv1.Fail,
			0, "", `[{"message":"failed calling the module: trap: unreachable","module":"m0","validationActions":["Audit"]}]`},
		{"Deny, failure under Fail", actions(deny), false, "fail", admissionregistrationv1.Fail,
			http.StatusInternalServerError, "", ""},
		{"Warn, failure under Ignore", actions(warn), false, "ignore", admissionregistrationv1.Ignore,
			0, "", ""},
		{"Warn, allowed", actions(warn), false, "allow", admissionregistrationv1.Fail,
			0, "", ""},
		{"mutating, Deny", actions(deny), true, "reject", admissionregistrationv1.Fail,
			http.StatusForbidden, "", ""},
		{"mutating, Warn", actions(warn), true, "reject", admissionregistrationv1.Fail,
			0, `Validation failed for admission module "m0" (WASM): no magic from m0`, ""},
		{"mutating, Audit", actions(audit), true, "reject", admissionregistrationv1.Fail,
			0, "", `[{"message":"no magic from m0","module":"m0","validationActions":["Audit"]}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeAdmitter{
				modules: []ModuleConfig{{Name: "m0", Mutating: tc.mutating, Rules: r, FailurePolicy: ptr(tc.policy), ValidationActions: tc.actions}},
				respond: libraryLike(map[string]behaviour{"m0": tc.do}),
			}
			p := newTestPlugin(t, fake)
			a := createAttrs(configMap("default", "c", nil, map[string]string{}), configMapGVK, configMapGVR, "default", "c", "", false)
			rec := &record.Warnings{}
			ctx := warning.WithWarningRecorder(context.Background(), rec)
			var err error
			if tc.mutating {
				err = p.Admit(ctx, a, objectInterfaces())
			} else {
				err = p.Validate(ctx, a, objectInterfaces())
			}
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("want admitted, got %v", err)
				}
			} else {
				var se *apierrors.StatusError
				if !errors.As(err, &se) || se.ErrStatus.Code != tc.wantCode {
					t.Fatalf("want code %d, got %v", tc.wantCode, err)
				}
			}
			var got []string
			for _, w := range rec.List() {
				if !strings.HasPrefix(w, "own warning of ") {
					got = append(got, w)
				}
			}
			if tc.wantWarn == "" && len(got) != 0 || tc.wantWarn != "" && !reflect.DeepEqual(got, []string{tc.wantWarn}) {
				t.Fatalf("warnings %q, want %q", got, tc.wantWarn)
			}
			key := ValidationFailureAuditAnnotationKey
			if tc.mutating {
				key = ValidationFailureAuditAnnotationPrefix + "mutation_round_0_validation_failure"
			}
			ann := annotations(a)
			if ann[key] != tc.wantAudit {
				t.Fatalf("annotation %s = %q, want %q (all: %v)", key, ann[key], tc.wantAudit, ann)
			}
			for k := range ann {
				if strings.HasPrefix(k, ValidationFailureAuditAnnotationPrefix) && k != key {
					t.Fatalf("unexpected annotation %s (all: %v)", k, ann)
				}
			}
		})
	}
}

// TestValidationActionsCalls: a module without Deny ends its library call
// (validating) or has one of its own (mutating), so that an overruled "no"
// neither keeps the modules after it from running nor drops the mutations
// before it; the modules' own warnings are kept.
func TestValidationActionsCalls(t *testing.T) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}
	cases := []struct {
		name      string
		mutating  bool
		actions   [][]admissionregistrationv1.ValidationAction
		do        map[string]behaviour
		wantCalls [][]uint32
		wantCode  int32
		wantData  []string // keys added by mutations
		wantWarns int      // validationActions warnings
	}{
		{"validating, all Deny: one call", false,
			[][]admissionregistrationv1.ValidationAction{nil, nil, nil},
			map[string]behaviour{}, [][]uint32{{0, 1, 2}}, 0, nil, 0},
		{"validating, Warn first rejects, the next still run", false,
			[][]admissionregistrationv1.ValidationAction{actions(warn), nil, nil},
			map[string]behaviour{"m0": "reject"}, [][]uint32{{0}, {1, 2}}, 0, nil, 1},
		{"validating, Warn in the middle ends the call", false,
			[][]admissionregistrationv1.ValidationAction{nil, actions(audit, warn), nil},
			map[string]behaviour{"m1": "reject"}, [][]uint32{{0, 1}, {2}}, 0, nil, 1},
		{"validating, a Deny module after a Warn one still rejects", false,
			[][]admissionregistrationv1.ValidationAction{actions(warn), nil, nil},
			map[string]behaviour{"m0": "reject", "m2": "reject"}, [][]uint32{{0}, {1, 2}}, http.StatusForbidden, nil, 1},
		{"mutating, the Warn module is called alone and the others' patches are kept", true,
			[][]admissionregistrationv1.ValidationAction{nil, actions(warn), nil},
			map[string]behaviour{"m0": "mutate", "m1": "reject", "m2": "mutate"}, [][]uint32{{0}, {1}, {2}}, 0, []string{"m0", "m2"}, 1},
		{"mutating, a Warn module that mutates keeps its patch", true,
			[][]admissionregistrationv1.ValidationAction{actions(warn), nil},
			map[string]behaviour{"m0": "mutate", "m1": "mutate"}, [][]uint32{{0}, {1}}, 0, []string{"m0", "m1"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mods []ModuleConfig
			for i, a := range tc.actions {
				mods = append(mods, ModuleConfig{Name: moduleName(uint32(i)), Mutating: tc.mutating, Rules: r, ValidationActions: a})
			}
			fake := &fakeAdmitter{modules: mods, respond: libraryLike(tc.do)}
			p := newTestPlugin(t, fake)
			a := createAttrs(configMap("default", "c", nil, map[string]string{"seed": "1"}), configMapGVK, configMapGVR, "default", "c", "", false)
			rec := &record.Warnings{}
			ctx := warning.WithWarningRecorder(context.Background(), rec)
			var err error
			if tc.mutating {
				err = p.Admit(ctx, a, objectInterfaces())
			} else {
				err = p.Validate(ctx, a, objectInterfaces())
			}
			if tc.wantCode == 0 && err != nil {
				t.Fatalf("want admitted, got %v", err)
			}
			var se *apierrors.StatusError
			if tc.wantCode != 0 && (!errors.As(err, &se) || se.ErrStatus.Code != tc.wantCode) {
				t.Fatalf("want code %d, got %v", tc.wantCode, err)
			}
			var calls [][]uint32
			for _, c := range fake.callsCopy() {
				calls = append(calls, c.ids)
			}
			if !reflect.DeepEqual(calls, tc.wantCalls) {
				t.Fatalf("calls %v, want %v", calls, tc.wantCalls)
			}
			var data []string
			for k := range a.GetObject().(*corev1.ConfigMap).Data {
				data = append(data, k)
			}
			if len(data) != len(tc.wantData)+1 { // + seed
				t.Fatalf("data keys %v, want %v", data, tc.wantData)
			}
			for _, k := range tc.wantData {
				if _, ok := a.GetObject().(*corev1.ConfigMap).Data[k]; !ok {
					t.Fatalf("data keys %v, want %v", data, tc.wantData)
				}
			}
			warns, own := 0, 0
			for _, w := range rec.List() {
				if strings.HasPrefix(w, "Validation failed for ") {
					warns++
				} else {
					own++
				}
			}
			if warns != tc.wantWarns || own == 0 {
				t.Fatalf("warnings %q: want %d from validationActions and the modules' own", rec.List(), tc.wantWarns)
			}
		})
	}
}

// TestValidationActionsConfig: validationActions is checked as Kubernetes
// checks a ValidatingAdmissionPolicyBinding's; every problem is reported at
// once, naming the module and the field.
func TestValidationActionsConfig(t *testing.T) {
	cases := []struct {
		name    string
		actions []admissionregistrationv1.ValidationAction
		want    string // "" valid
	}{
		{"absent", nil, ""},
		{"Deny", actions(deny), ""},
		{"Warn", actions(warn), ""},
		{"Audit", actions(audit), ""},
		{"Warn and Audit", actions(warn, audit), ""},
		{"Deny and Audit", actions(deny, audit), ""},
		{"empty", []admissionregistrationv1.ValidationAction{}, `modules[0] "m0": validationActions: Required value: at least one validation action is required`},
		{"Deny and Warn", actions(deny, warn), `modules[0] "m0": validationActions: Invalid value: ["Deny","Warn"]: must not contain both Deny and Warn`},
		{"duplicate", actions(warn, warn), `modules[0] "m0": validationActions[1]: Duplicate value: "Warn"`},
		{"unsupported", actions("Block"), `modules[0] "m0": validationActions[0]: Unsupported value: "Block": supported values: "Audit", "Deny", "Warn"`},
		{"case matters", actions("deny"), `modules[0] "m0": validationActions[0]: Unsupported value: "deny"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newWithAdmitter(&fakeAdmitter{modules: []ModuleConfig{{Name: "m0", ValidationActions: tc.actions}}})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `admission plugin "WASM"`) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		_, err := newWithAdmitter(&fakeAdmitter{modules: []ModuleConfig{
			{Name: "m0", ValidationActions: actions(deny, warn)},
			{Name: "m1"},
			{Name: "m2", ValidationActions: []admissionregistrationv1.ValidationAction{}},
		}})
		if err == nil || !strings.Contains(err.Error(), `modules[0] "m0": validationActions`) || !strings.Contains(err.Error(), `modules[2] "m2": validationActions`) || strings.Contains(err.Error(), `"m1"`) {
			t.Fatalf("want m0 and m2 reported, got %v", err)
		}
	})
	t.Run("defaulted to Deny", func(t *testing.T) {
		p, err := newWithAdmitter(&fakeAdmitter{modules: []ModuleConfig{{Name: "m0"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Modules()[0].ValidationActions; !reflect.DeepEqual(got, actions(deny)) {
			t.Fatalf("validationActions = %v, want [Deny]", got)
		}
	})
}
