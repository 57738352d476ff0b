package metrics

import (
	"strconv"
	"sync"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// Per-module series shaped like upstream's webhook series, so that webhook
// dashboards and alerts carry over with the metric name changed:
//
//	apiserver_admission_webhook_admission_duration_seconds{name,type,operation,rejected}
//	  -> apiserver_wasm_admission_module_duration_seconds{name,type,operation,rejected}
//	apiserver_admission_webhook_rejection_count{name,type,operation,error_type,rejection_code}
//	  -> apiserver_wasm_admission_module_rejection_count{...same labels}
//	apiserver_admission_webhook_fail_open_count{name,type}
//	  -> apiserver_wasm_admission_module_fail_open_count{name,type,error_type}
//	apiserver_authorization_webhook_duration_seconds{name,result}
//	  -> apiserver_wasm_authorization_module_duration_seconds{name,result}
//	apiserver_authorization_webhook_evaluations_total{name,result}
//	  -> apiserver_wasm_authorization_module_evaluations_total{name,result}
//	apiserver_authorization_webhook_evaluations_fail_open_total{name,result}
//	  -> apiserver_wasm_authorization_module_evaluations_fail_open_total{name,result}
//
// type is "admit" (mutating) or "validating" as for webhooks. Where a webhook
// has one "calling webhook error", a module's failure has a kind:
// error_type and a failed call's result are the library's failure kind
// (timeout, trap, memoryLimit, outputLimit, malformed, moduleError,
// hostError, overloaded); error_type is "no_error" for a module's own
// rejection and result "success" for an answer, as upstream.
var (
	admissionModuleDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "admission_module_duration_seconds",
		Help:           "Time one kubewasm admission module took, by module name, type (admit, validating), operation and whether it rejected the request (like apiserver_admission_webhook_admission_duration_seconds).",
		Buckets:        []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 30},
		StabilityLevel: metrics.ALPHA,
	}, []string{"name", "type", "operation", "rejected"})

	admissionModuleRejections = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "admission_module_rejection_count",
		Help:           "Requests a kubewasm admission module rejected, by module name, type, operation, error_type (no_error for the module's own rejection, else the failure kind of a failurePolicy Fail failure: timeout, trap, memoryLimit, outputLimit, malformed, moduleError, hostError, overloaded) and rejection_code (the HTTP status returned) (like apiserver_admission_webhook_rejection_count).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"name", "type", "operation", "error_type", "rejection_code"})

	admissionModuleFailOpen = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "admission_module_fail_open_count",
		Help:           "Failed calls of a kubewasm admission module with failurePolicy Ignore (the request went on), by module name, type and error_type (the failure kind) (like apiserver_admission_webhook_fail_open_count).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"name", "type", "error_type"})

	authorizationModuleDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "authorization_module_duration_seconds",
		Help:           "Time one kubewasm authorization module took, by module name and result (success for an answer, else the failure kind) (like apiserver_authorization_webhook_duration_seconds).",
		Buckets:        []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 30},
		StabilityLevel: metrics.ALPHA,
	}, []string{"name", "result"})

	authorizationModuleEvaluations = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "authorization_module_evaluations_total",
		Help:           "Calls of a kubewasm authorization module, by module name and result (success, or the failure kind) (like apiserver_authorization_webhook_evaluations_total).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"name", "result"})

	authorizationModuleFailOpen = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "authorization_module_evaluations_fail_open_total",
		Help:           "Failed calls of a kubewasm authorization module with failurePolicy NoOpinion (the next authorizer decided), by module name and result (the failure kind) (like apiserver_authorization_webhook_evaluations_fail_open_total).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"name", "result"})

	parityOnce sync.Once
)

// Admission module types, as the webhook metrics name them.
const (
	TypeAdmit      = "admit"
	TypeValidating = "validating"
)

// NoError is the error_type of a module's own rejection.
const NoError = "no_error"

func registerParity() {
	parityOnce.Do(func() {
		legacyregistry.MustRegister(admissionModuleDuration, admissionModuleRejections, admissionModuleFailOpen,
			authorizationModuleDuration, authorizationModuleEvaluations, authorizationModuleFailOpen)
	})
}

// FailureKind is the error_type / result label of a failed call: its failure
// kind; hostError for a failure without one (a failed library call).
func FailureKind(o binding.Outcome) string {
	if o.Failure != "" {
		return string(o.Failure)
	}
	if o.Outcome == "overloaded" {
		return string(binding.FailureOverloaded)
	}
	return string(binding.FailureHostError)
}

// failed reports whether the outcome is a failed call.
func failed(o binding.Outcome) bool {
	switch o.Outcome {
	case "error", "ignored", "overloaded":
		return true
	}
	return o.Failure != ""
}

// AdmissionModule is one admission module's part in one library call, for
// ObserveAdmissionModule.
type AdmissionModule struct {
	// Outcome is the library's outcome of the module.
	Outcome binding.Outcome
	// Type is TypeAdmit or TypeValidating.
	Type string
	// Operation is the request's operation (CREATE, UPDATE, DELETE, CONNECT).
	Operation string
	// Rejected: the module's answer or failure rejected the request.
	Rejected bool
	// Code is the HTTP status of the rejection (when Rejected).
	Code int32
	// FailedOpen: the module failed and its failurePolicy Ignore let the
	// request go on.
	FailedOpen bool
}

// ObserveAdmissionModule records one module's duration, and its rejection or
// fail-open, in the webhook-shaped series.
func ObserveAdmissionModule(m AdmissionModule) {
	o := m.Outcome
	admissionModuleDuration.WithLabelValues(o.Module, m.Type, m.Operation, strconv.FormatBool(m.Rejected)).Observe(time.Duration(o.DurationNanos).Seconds())
	if m.Rejected {
		errorType := NoError
		if failed(o) {
			errorType = FailureKind(o)
		}
		admissionModuleRejections.WithLabelValues(o.Module, m.Type, m.Operation, errorType, strconv.Itoa(int(m.Code))).Inc()
	}
	if m.FailedOpen {
		admissionModuleFailOpen.WithLabelValues(o.Module, m.Type, FailureKind(o)).Inc()
	}
}

// ObserveAuthorizationModule records one authorization module's call:
// duration and evaluation by result, and a fail-open when the module failed
// and failOpen (its failurePolicy is NoOpinion).
func ObserveAuthorizationModule(o binding.Outcome, failOpen bool) {
	result := "success"
	if failed(o) {
		result = FailureKind(o)
	}
	authorizationModuleDuration.WithLabelValues(o.Module, result).Observe(time.Duration(o.DurationNanos).Seconds())
	authorizationModuleEvaluations.WithLabelValues(o.Module, result).Inc()
	if result != "success" && failOpen {
		authorizationModuleFailOpen.WithLabelValues(o.Module, result).Inc()
	}
}
