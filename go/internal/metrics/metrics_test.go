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
