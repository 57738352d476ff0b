package metrics

import (
	"testing"
	"time"

	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

func TestObserve(t *testing.T) {
	Register()
	Register() // idempotent
	moduleDuration.Reset()
	callDuration.Reset()
	callErrors.Reset()
	ObserveCall(binding.KindAdmission, time.Now().Add(-30*time.Microsecond))
	ObserveOutcomes(binding.KindAdmission, []binding.Outcome{{Module: "m", Outcome: "allowed", DurationNanos: 20_000}})
	ObserveError(binding.KindAuthorization, &binding.Error{Code: binding.CodeInternal})
	mfs, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil && mf.GetName() == "apiserver_wasm_library_errors_total" {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["kind"] != "authorization" || labels["code"] != "INTERNAL" || c.GetValue() != 1 {
					t.Errorf("library_errors_total: %v = %g, want {kind=authorization, code=INTERNAL} = 1", labels, c.GetValue())
				}
				counts[mf.GetName()]++
			}
			if h := m.GetHistogram(); h != nil {
				counts[mf.GetName()] += h.GetSampleCount()
				if mf.GetName() == "apiserver_wasm_library_call_duration_seconds" && h.GetSampleSum() < 30e-6 {
					t.Errorf("library call observed %gs, want at least 30µs", h.GetSampleSum())
				}
			}
		}
	}
	for _, name := range []string{"apiserver_wasm_library_call_duration_seconds", "apiserver_wasm_module_duration_seconds", "apiserver_wasm_library_errors_total"} {
		if counts[name] != 1 {
			t.Errorf("%s: %d observations, want 1", name, counts[name])
		}
	}
}

func TestTotalsFor(t *testing.T) {
	Register()
	before, err := TotalsFor(binding.KindAuthentication)
	if err != nil {
		t.Fatal(err)
	}
	ObserveCall(binding.KindAuthentication, time.Now().Add(-50*time.Microsecond))
	ObserveOutcomes(binding.KindAuthentication, []binding.Outcome{{Module: "a", Outcome: "authenticated", DurationNanos: 20_000}, {Module: "b", Outcome: "unauthenticated", DurationNanos: 10_000}})
	ObserveCall(binding.KindAuthorization, time.Now().Add(-time.Second)) // another kind: not counted
	after, err := TotalsFor(binding.KindAuthentication)
	if err != nil {
		t.Fatal(err)
	}
	if n := after.Calls - before.Calls; n != 1 {
		t.Errorf("calls +%d, want +1", n)
	}
	if d := after.CallSeconds - before.CallSeconds; d < 50e-6 || d > 0.5 {
		t.Errorf("call seconds +%g, want about 50µs", d)
	}
	if d := after.ModuleSeconds - before.ModuleSeconds; d < 29e-6 || d > 31e-6 {
		t.Errorf("module seconds +%g, want 30µs", d)
	}
}

func TestFailedCallsAreLabelledByKind(t *testing.T) {
	Register()
	moduleDuration.Reset()
	ObserveOutcomes(binding.KindAdmission, []binding.Outcome{
		{Module: "a", Outcome: "allowed"},
		{Module: "b", Outcome: "error", Failure: binding.FailureTimeout},
		{Module: "c", Outcome: "ignored", Failure: binding.FailureTrap},
		{Module: "d", Outcome: "overloaded", Failure: binding.FailureOverloaded},
		{Module: "e", Outcome: "error"}, // an older library without "failure"
	})
	want := map[string]string{"a": "allowed", "b": "error:timeout", "c": "ignored:trap", "d": "overloaded", "e": "error"}
	mfs, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		if mf.GetName() != "apiserver_wasm_module_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["module"]] = labels["outcome"]
		}
	}
	for module, outcome := range want {
		if got[module] != outcome {
			t.Errorf("module %s: outcome label %q, want %q", module, got[module], outcome)
		}
	}
}
