package metrics

import (
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// value reads one series with exactly these labels (Value).
func value(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	v, err := Value(name, want)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestObserveAdmissionModule(t *testing.T) {
	Register()
	cases := []struct {
		name       string
		obs        AdmissionModule
		rejected   string
		rejection  map[string]string // labels of the rejection_count series, nil: none
		failOpenAs string            // error_type of the fail_open_count series, "": none
	}{
		{"allowed", AdmissionModule{Outcome: binding.Outcome{Module: "a1", Outcome: "allowed"}, Type: TypeValidating, Operation: "CREATE"}, "false", nil, ""},
		{"rejected with a code", AdmissionModule{Outcome: binding.Outcome{Module: "a2", Outcome: "rejected"}, Type: TypeValidating, Operation: "UPDATE", Rejected: true, Code: 422}, "true",
			map[string]string{"error_type": NoError, "rejection_code": "422"}, ""},
		{"timeout, failing closed", AdmissionModule{Outcome: binding.Outcome{Module: "a3", Outcome: "error", Failure: binding.FailureTimeout}, Type: TypeAdmit, Operation: "CREATE", Rejected: true, Code: 500}, "true",
			map[string]string{"error_type": "timeout", "rejection_code": "500"}, ""},
		{"memory limit, failing open", AdmissionModule{Outcome: binding.Outcome{Module: "a4", Outcome: "ignored", Failure: binding.FailureMemoryLimit}, Type: TypeAdmit, Operation: "DELETE", FailedOpen: true}, "false", nil, "memoryLimit"},
		{"overloaded, failing open", AdmissionModule{Outcome: binding.Outcome{Module: "a5", Outcome: "overloaded"}, Type: TypeValidating, Operation: "CREATE", FailedOpen: true}, "false", nil, "overloaded"},
		{"malformed, failing closed", AdmissionModule{Outcome: binding.Outcome{Module: "a6", Outcome: "error", Failure: binding.FailureMalformed}, Type: TypeValidating, Operation: "CREATE", Rejected: true, Code: 500}, "true",
			map[string]string{"error_type": "malformed", "rejection_code": "500"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.obs
			ObserveAdmissionModule(o)
			if got := value(t, "apiserver_wasm_admission_module_duration_seconds", map[string]string{"name": o.Outcome.Module, "type": o.Type, "operation": o.Operation, "rejected": tc.rejected}); got != 1 {
				t.Errorf("duration observations with rejected=%s: %g, want 1", tc.rejected, got)
			}
			if tc.rejection != nil {
				labels := map[string]string{"name": o.Outcome.Module, "type": o.Type, "operation": o.Operation}
				for k, v := range tc.rejection {
					labels[k] = v
				}
				if got := value(t, "apiserver_wasm_admission_module_rejection_count", labels); got != 1 {
					t.Errorf("rejection_count%v = %g, want 1", labels, got)
				}
			}
			if tc.failOpenAs != "" {
				labels := map[string]string{"name": o.Outcome.Module, "type": o.Type, "error_type": tc.failOpenAs}
				if got := value(t, "apiserver_wasm_admission_module_fail_open_count", labels); got != 1 {
					t.Errorf("fail_open_count%v = %g, want 1", labels, got)
				}
			}
		})
	}
}

func TestObserveAuthorizationModule(t *testing.T) {
	Register()
	cases := []struct {
		name     string
		outcome  binding.Outcome
		failOpen bool
		result   string
		openings float64
	}{
		{"allowed", binding.Outcome{Module: "z1", Outcome: "allowed"}, true, "success", 0},
		{"trap, NoOpinion", binding.Outcome{Module: "z2", Outcome: "error", Failure: binding.FailureTrap}, true, "trap", 1},
		{"output limit, Deny", binding.Outcome{Module: "z3", Outcome: "error", Failure: binding.FailureOutputLimit}, false, "outputLimit", 0},
		{"overloaded, NoOpinion", binding.Outcome{Module: "z4", Outcome: "overloaded"}, true, "overloaded", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ObserveAuthorizationModule(tc.outcome, tc.failOpen)
			labels := map[string]string{"name": tc.outcome.Module, "result": tc.result}
			if got := value(t, "apiserver_wasm_authorization_module_evaluations_total", labels); got != 1 {
				t.Errorf("evaluations_total%v = %g, want 1", labels, got)
			}
			if got := value(t, "apiserver_wasm_authorization_module_duration_seconds", labels); got != 1 {
				t.Errorf("duration_seconds%v: %g observations, want 1", labels, got)
			}
			if got := value(t, "apiserver_wasm_authorization_module_evaluations_fail_open_total", labels); got != tc.openings {
				t.Errorf("evaluations_fail_open_total%v = %g, want %g", labels, got, tc.openings)
			}
		})
	}
}

func TestReloadMetrics(t *testing.T) {
	RegisterReload()
	RecordReload("test-kind", true)
	RecordReload("test-kind", false)
	RecordReload("test-kind", false)
	if got := value(t, "apiserver_wasm_config_controller_automatic_reloads_total", map[string]string{"kind": "test-kind", "status": "failure"}); got != 2 {
		t.Errorf("failures = %g, want 2", got)
	}
	SetConfigInfo("test-kind", "sha256:a")
	SetConfigInfo("test-kind", "sha256:b")
	if value(t, "apiserver_wasm_config_controller_last_config_info", map[string]string{"kind": "test-kind", "hash": "sha256:a"}) != 0 {
		t.Error("the previous hash's series must be gone")
	}
	if value(t, "apiserver_wasm_config_controller_last_config_info", map[string]string{"kind": "test-kind", "hash": "sha256:b"}) != 1 {
		t.Error("the current hash's series must be 1")
	}
}
