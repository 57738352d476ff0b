// Package metrics holds the kubewasm metrics of the API server (namespace
// apiserver, subsystem wasm, ALPHA), registered in the legacy registry like
// the webhook metrics. Labels are bounded: the kind, the configured module
// names and the library's fixed outcome values.
package metrics

import (
	"sync"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

var (
	moduleDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "module_duration_seconds",
		Help:           "Time one kubewasm module took to answer one request, by kind (authentication, authorization, admission), module and outcome (a failed call's outcome names its failure kind: error:timeout, ignored:trap, overloaded, ...).",
		Buckets:        []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 30},
		StabilityLevel: metrics.ALPHA,
	}, []string{"kind", "module", "outcome"})

	callDuration = metrics.NewHistogramVec(&metrics.HistogramOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "library_call_duration_seconds",
		Help:           "Wall time of one call into the kubewasm library as the Go side sees it (the cgo call, the library's JSON work, every module it ran, and getting back onto a Go scheduler P), by kind. Compare with module_duration_seconds: the difference is the overhead outside the modules.",
		Buckets:        []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 30},
		StabilityLevel: metrics.ALPHA,
	}, []string{"kind"})

	callErrors = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      "apiserver",
		Subsystem:      "wasm",
		Name:           "library_errors_total",
		Help:           "kubewasm library calls that failed as a whole (not a module failure), by kind and error code.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"kind", "code"})

	registerOnce sync.Once
)

// Register registers the metrics (once).
func Register() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(moduleDuration, callDuration, callErrors)
	})
	registerParity()
	RegisterReload()
}

// ObserveOutcomes records one result's per-module outcomes; a failed call's
// outcome label names its failure kind ([binding.Outcome.MetricOutcome]).
func ObserveOutcomes(kind binding.Kind, outcomes []binding.Outcome) {
	for _, o := range outcomes {
		moduleDuration.WithLabelValues(kind.String(), o.Module, o.MetricOutcome()).Observe(time.Duration(o.DurationNanos).Seconds())
	}
}

// ObserveCall records the wall time of one library call that started at
// start.
func ObserveCall(kind binding.Kind, start time.Time) {
	callDuration.WithLabelValues(kind.String()).Observe(time.Since(start).Seconds())
}

// Totals is what the metrics recorded so far for one kind: library calls and
// their summed wall time, and the summed time of the modules they ran.
type Totals struct {
	// Calls is the number of library calls observed.
	Calls uint64
	// CallSeconds is their summed wall time, as Go saw it.
	CallSeconds float64
	// ModuleSeconds is the summed time the modules took (the library's own
	// measurement of each module: instantiation and the call).
	ModuleSeconds float64
}

// TotalsFor reads Totals for kind from the registry, for benchmarks and tools
// that want to split a decision's time into the Go side, the library call and
// the modules (two readings, subtracted).
func TotalsFor(kind binding.Kind) (Totals, error) {
	var t Totals
	mfs, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		return t, err
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if name != "apiserver_wasm_library_call_duration_seconds" && name != "apiserver_wasm_module_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind.String() {
					match = true
				}
			}
			h := m.GetHistogram()
			if !match || h == nil {
				continue
			}
			if name == "apiserver_wasm_library_call_duration_seconds" {
				t.Calls += h.GetSampleCount()
				t.CallSeconds += h.GetSampleSum()
			} else {
				t.ModuleSeconds += h.GetSampleSum()
			}
		}
	}
	return t, nil
}

// PerOp returns the library call time and the module time per operation, in
// nanoseconds, between an earlier reading and t, for ops operations.
func (t Totals) PerOp(earlier Totals, ops int) (callNanos, moduleNanos float64) {
	if ops <= 0 {
		return 0, 0
	}
	return (t.CallSeconds - earlier.CallSeconds) * 1e9 / float64(ops), (t.ModuleSeconds - earlier.ModuleSeconds) * 1e9 / float64(ops)
}

// ObserveError records a library error.
func ObserveError(kind binding.Kind, err error) {
	code := "unknown"
	if e, ok := err.(*binding.Error); ok {
		code = e.Code.String()
	}
	callErrors.WithLabelValues(kind.String(), code).Inc()
}

// Value reads one series of name from the registry: the one whose labels are
// exactly labels. It returns a counter's or a gauge's value, or a histogram's
// sample count; 0 when there is no such series. For tests and tools.
func Value(name string, labels map[string]string) (float64, error) {
	mfs, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					continue series
				}
			}
			switch {
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), nil
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), nil
			default:
				return m.GetCounter().GetValue(), nil
			}
		}
	}
	return 0, nil
}
