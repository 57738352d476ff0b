package binding

import "github.com/kubewasm/kubewasm/go/internal/resultjson"

// DecodeOutcomes reads a result's "outcomes" for a [resultjson] decoder.
func DecodeOutcomes(r *resultjson.Reader, v *[]Outcome) bool {
	if r.Null() {
		*v = nil
		return true
	}
	out := (*v)[:0]
	if out == nil {
		out = []Outcome{}
	}
	ok := r.Array(func() bool {
		var o Outcome
		ok := r.Object(func(key string) bool {
			switch key {
			case "module":
				return r.String(&o.Module)
			case "outcome":
				return r.String(&o.Outcome)
			case "durationNanos":
				return r.Int(&o.DurationNanos, 64)
			case "failure":
				s := string(o.Failure)
				if !r.String(&s) {
					return false
				}
				o.Failure = Failure(s)
				return true
			case "error":
				return r.String(&o.Error)
			}
			return r.Unknown(key, "module", "outcome", "durationNanos", "failure", "error")
		})
		out = append(out, o)
		return ok
	})
	*v = out
	return ok
}

// DecodeLogs reads a result's "logs" for a [resultjson] decoder.
func DecodeLogs(r *resultjson.Reader, v *[]LogLine) bool {
	if r.Null() {
		*v = nil
		return true
	}
	out := (*v)[:0]
	if out == nil {
		out = []LogLine{}
	}
	ok := r.Array(func() bool {
		var l LogLine
		ok := r.Object(func(key string) bool {
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
		out = append(out, l)
		return ok
	})
	*v = out
	return ok
}
