package binding

import (
	"context"
	"time"

	"k8s.io/klog/v2"
)

// Outcome is one entry of a result's "outcomes": what one module did.
type Outcome struct {
	// Module is the module's configured name.
	Module string `json:"module"`
	// Outcome is one of the values documented per call in docs/abi.md
	// (authenticated, unauthenticated, allowed, denied, noOpinion, mutated,
	// rejected, error, ignored, overloaded).
	Outcome string `json:"outcome"`
	// DurationNanos is the wall time the module took.
	DurationNanos int64 `json:"durationNanos"`
	// Failure is the kind of a failed call (outcomes error, ignored and
	// overloaded); empty when the module answered.
	Failure Failure `json:"failure,omitempty"`
	// Error describes a failed call.
	Error string `json:"error,omitempty"`
}

// Failure is the typed kind of a failed module call, as the library reports
// it in an outcome's "failure" (FailureKind in src/error.rs; docs/abi.md).
type Failure string

// Failure kinds. The library adds kinds, never renames them.
const (
	// FailureTimeout: the module's timeout or the request's deadline ran out.
	FailureTimeout Failure = "timeout"
	// FailureTrap: the module trapped (including stack exhaustion).
	FailureTrap Failure = "trap"
	// FailureMemoryLimit: the module tried to grow its memory past its limit.
	FailureMemoryLimit Failure = "memoryLimit"
	// FailureOutputLimit: the module's output or answer went over a host bound.
	FailureOutputLimit Failure = "outputLimit"
	// FailureMalformed: the module's answer is not one the host accepts.
	FailureMalformed Failure = "malformed"
	// FailureModuleError: the module reported a failure itself (an error
	// field, a waPC guest error, a non-zero exit code).
	FailureModuleError Failure = "moduleError"
	// FailureHostError: the host failed or refused the call otherwise.
	FailureHostError Failure = "hostError"
	// FailureOverloaded: the step's share of calls in flight was full.
	FailureOverloaded Failure = "overloaded"
)

// MetricOutcome is the outcome label of the module duration metric: the
// outcome itself for a call that answered; for a failed call the outcome and
// the failure kind, "error:timeout" or "ignored:trap" (the outcome alone
// when it already is the kind: "overloaded"), so that dashboards matching
// the outcome's prefix keep working.
func (o Outcome) MetricOutcome() string {
	if o.Failure == "" || string(o.Failure) == o.Outcome {
		return o.Outcome
	}
	return o.Outcome + ":" + string(o.Failure)
}

// LogLine is one entry of a result's "logs". The library never writes to
// stdout or stderr: the Go side logs these lines.
type LogLine struct {
	// Level is debug, info, warning or error.
	Level string `json:"level"`
	// Module is the module that produced the line.
	Module string `json:"module,omitempty"`
	// Message is the text.
	Message string `json:"message"`
}

// Log writes the lines to klog at matching levels: debug at V(4), info at
// V(2), warning and error as such. The lines come from the library with
// bearer tokens already redacted (the library owns redaction).
func Log(kind Kind, lines []LogLine) {
	for _, l := range lines {
		msg := l.Message
		switch l.Level {
		case "error":
			klog.Errorf("kubewasm %s module %q: %s", kind, l.Module, msg)
		case "warning", "warn":
			klog.Warningf("kubewasm %s module %q: %s", kind, l.Module, msg)
		case "info":
			klog.V(2).Infof("kubewasm %s module %q: %s", kind, l.Module, msg)
		default:
			klog.V(4).Infof("kubewasm %s module %q: %s", kind, l.Module, msg)
		}
	}
}

// TimeoutFrom returns the time left until the context's deadline, for the
// timeout argument of the calls: 0 (module timeouts only) without a deadline,
// and at least one nanosecond when the deadline has passed, so that an
// expired request is not given unbounded time.
func TimeoutFrom(ctx context.Context) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	if d := time.Until(deadline); d > 0 {
		return d
	}
	return time.Nanosecond
}
