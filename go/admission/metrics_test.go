package admission

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/metrics"
)

// seriesValue reads one series with exactly these labels (metrics.Value).
func seriesValue(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	v, err := metrics.Value(name, want)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWebhookShapedMetrics: the per-module series a webhook would have, from
// the library's outcomes and the module's configuration (failurePolicy,
// validationActions).
func TestWebhookShapedMetrics(t *testing.T) {
	metrics.Register()
	cmRule := []admissionregistrationv1.RuleWithOperations{rule(create, core, []string{"v1"}, []string{"configmaps"}, "")}
	ignore := admissionregistrationv1.Ignore
	cases := []struct {
		name      string
		module    ModuleConfig
		result    *Result
		libErr    error
		rejected  string
		rejection map[string]string // error_type, rejection_code; nil: not counted
		failOpen  string            // error_type; "": not counted
	}{
		{"rejected with the module's code", ModuleConfig{Name: "m0"},
			&Result{Module: "m0", Status: &metav1.Status{Code: 422, Message: "no"}, Outcomes: []binding.Outcome{{Module: "m0", Outcome: "rejected"}}},
			nil, "true", map[string]string{"error_type": "no_error", "rejection_code": "422"}, ""},
		{"trap with failurePolicy Fail", ModuleConfig{Name: "m0"},
			&Result{Module: "m0", Error: "trapped", Outcomes: []binding.Outcome{{Module: "m0", Outcome: "error", Failure: binding.FailureTrap}}},
			nil, "true", map[string]string{"error_type": "trap", "rejection_code": "500"}, ""},
		{"timeout with failurePolicy Ignore", ModuleConfig{Name: "m0", FailurePolicy: &ignore},
			&Result{Allowed: true, Outcomes: []binding.Outcome{{Module: "m0", Outcome: "ignored", Failure: binding.FailureTimeout}}},
			nil, "false", nil, "timeout"},
		{"a Warn-only module's no does not reject", ModuleConfig{Name: "m0", ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn}},
			&Result{Module: "m0", Status: &metav1.Status{Code: 403, Message: "no"}, Outcomes: []binding.Outcome{{Module: "m0", Outcome: "rejected"}}},
			nil, "false", nil, ""},
		{"a library error fails the module closed", ModuleConfig{Name: "m0"}, nil,
			&binding.Error{Code: binding.CodeInternal, Message: "boom"}, "", map[string]string{"error_type": "hostError", "rejection_code": "500"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mod := tc.module
			mod.Rules = cmRule
			fake := &fakeAdmitter{modules: []ModuleConfig{mod}, respond: func(fakeCall) (*Result, error) { return tc.result, tc.libErr }}
			p := newTestPlugin(t, fake)
			base := map[string]string{"name": "m0", "type": "validating", "operation": "CREATE"}
			with := func(extra map[string]string) map[string]string {
				l := map[string]string{}
				for k, v := range base {
					l[k] = v
				}
				for k, v := range extra {
					l[k] = v
				}
				return l
			}
			var durBefore float64
			if tc.rejected != "" {
				durBefore = seriesValue(t, "apiserver_wasm_admission_module_duration_seconds", with(map[string]string{"rejected": tc.rejected}))
			}
			var rejBefore, openBefore float64
			if tc.rejection != nil {
				rejBefore = seriesValue(t, "apiserver_wasm_admission_module_rejection_count", with(tc.rejection))
			}
			openLabels := map[string]string{"name": "m0", "type": "validating", "error_type": tc.failOpen}
			if tc.failOpen != "" {
				openBefore = seriesValue(t, "apiserver_wasm_admission_module_fail_open_count", openLabels)
			}
			a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
			_ = p.Validate(context.Background(), a, objectInterfaces())
			if tc.rejected != "" {
				if got := seriesValue(t, "apiserver_wasm_admission_module_duration_seconds", with(map[string]string{"rejected": tc.rejected})); got != durBefore+1 {
					t.Errorf("duration with rejected=%s: %g observations, want %g", tc.rejected, got, durBefore+1)
				}
			}
			if tc.rejection != nil {
				if got := seriesValue(t, "apiserver_wasm_admission_module_rejection_count", with(tc.rejection)); got != rejBefore+1 {
					t.Errorf("rejection_count%v = %g, want %g", with(tc.rejection), got, rejBefore+1)
				}
			}
			if tc.failOpen != "" {
				if got := seriesValue(t, "apiserver_wasm_admission_module_fail_open_count", openLabels); got != openBefore+1 {
					t.Errorf("fail_open_count%v = %g, want %g", openLabels, got, openBefore+1)
				}
			}
		})
	}
}

// TestGenerationSwap: a swapped-in generation brings its own module list,
// matching and handled operations; a request that acquired the old one
// finishes on it and the old admitter is closed after it.
func TestGenerationSwap(t *testing.T) {
	oldFake := &fakeAdmitter{modules: []ModuleConfig{{Name: "m0", Rules: []admissionregistrationv1.RuleWithOperations{rule(create, core, []string{"v1"}, []string{"configmaps"}, "")}}}}
	p := newTestPlugin(t, oldFake)
	if !p.Handles(admission.Create) || p.Handles(admission.Delete) {
		t.Fatal("the first generation handles CREATE only")
	}
	inFlight := p.gens.Acquire()
	newFake := &fakeAdmitter{modules: []ModuleConfig{{Name: "m0", Rules: []admissionregistrationv1.RuleWithOperations{rule([]admissionregistrationv1.OperationType{admissionregistrationv1.Delete}, core, []string{"v1"}, []string{"configmaps"}, "")}}}}
	g, err := newGeneration(newFake)
	if err != nil {
		t.Fatal(err)
	}
	p.gens.Swap(g)
	if p.Handles(admission.Create) || !p.Handles(admission.Delete) {
		t.Fatal("after the swap the plugin handles DELETE only")
	}
	if oldFake.closed {
		t.Fatal("the old admitter was closed while a request holds it")
	}
	a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
	if err := p.Validate(context.Background(), a, objectInterfaces()); err != nil {
		t.Fatal(err)
	}
	if len(newFake.callsCopy()) != 0 || len(oldFake.callsCopy()) != 0 {
		t.Fatal("a CREATE matches no module of the new generation")
	}
	inFlight.Release()
	<-inFlight.Freed()
	if !oldFake.closed {
		t.Fatal("the old admitter was not closed after its last request")
	}
	if err := p.Close(); err != nil || !newFake.closed {
		t.Fatalf("Close = %v, closed %v", err, newFake.closed)
	}
	if err := p.Validate(context.Background(), a, objectInterfaces()); err == nil {
		t.Fatal("Validate after Close must fail")
	}
}

// TestStaleGenerationStartsOver: a request matched on a generation that was
// swapped out and freed before its first library call starts over on the
// current one; the freed handle is never called.
func TestStaleGenerationStartsOver(t *testing.T) {
	r := []admissionregistrationv1.RuleWithOperations{rule(create, core, []string{"v1"}, []string{"configmaps"}, "")}
	mods := []ModuleConfig{{Name: "m0", Mutating: true, Rules: r}, {Name: "m1", Rules: r}}
	oldFake := &fakeAdmitter{modules: mods}
	p := newTestPlugin(t, oldFake)
	stale := p.gens.Current()
	newFake := &fakeAdmitter{modules: mods}
	g, err := newGeneration(newFake)
	if err != nil {
		t.Fatal(err)
	}
	p.gens.Swap(g) // no request holds the old one: freed at once
	<-stale.Freed()
	a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
	o := objectInterfaces()
	if err := p.admit(context.Background(), stale, a, o); err != errStaleGeneration {
		t.Fatalf("admit on a freed generation = %v, want errStaleGeneration", err)
	}
	if err := p.validate(context.Background(), stale, a, o); err != errStaleGeneration {
		t.Fatalf("validate on a freed generation = %v, want errStaleGeneration", err)
	}
	if err := p.Admit(context.Background(), a, o); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(context.Background(), a, o); err != nil {
		t.Fatal(err)
	}
	if n := len(oldFake.callsCopy()); n != 0 {
		t.Fatalf("the freed generation's admitter was called %d times", n)
	}
	if n := len(newFake.callsCopy()); n != 2 {
		t.Fatalf("the current generation's admitter was called %d times, want 2", n)
	}
}
