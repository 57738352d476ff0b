package binding

import "github.com/kubewasm/kubewasm/go/internal/resultjson"

// DecodeReport reads a result's "outcomes" or "logs" (the keys every result
// has) for a [resultjson] decoder. handled is false for any other key; ok is
// false when the value is outside what the fast path handles.
func DecodeReport(r *resultjson.Reader, key string, outcomes *[]Outcome, logs *[]LogLine) (handled, ok bool) {
	switch key {
	case "outcomes":
		return true, resultjson.Slice(r, outcomes, func(o *Outcome) bool {
			return r.Object(func(key string) bool {
				switch key {
				case "module":
					return r.String(&o.Module)
				case "outcome":
					return r.String(&o.Outcome)
				case "durationNanos":
					return r.Int(&o.DurationNanos, 64)
				case "failure":
					s := string(o.Failure)
					ok := r.String(&s)
					o.Failure = Failure(s)
					return ok
				case "error":
					return r.String(&o.Error)
				}
				return r.Unknown(key, "module", "outcome", "durationNanos", "failure", "error")
			})
		})
	case "logs":
		return true, resultjson.Slice(r, logs, func(l *LogLine) bool {
			return r.Object(func(key string) bool {
				switch key {
				case "level":
					return r.String(&l.Level)
				case "module":
					return r.String(&l.Module)
				case "message":
					return r.String(&l.Message)
				}
				return r.Unknown(key, "level", "module", "message")
			})
		})
	}
	return false, false
}
