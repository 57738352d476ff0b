package authorizer

import (
	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/resultjson"
)

// decodeResult decodes the library's answer to kubewasm_authorize: without
// reflection when the document has the library's usual shape, with
// encoding/json otherwise (see package resultjson).
func decodeResult(out []byte) (Result, error) {
	return resultjson.Decode(out, fastResult)
}

func fastResult(r *resultjson.Reader, res *Result) bool {
	return r.Object(func(key string) bool {
		switch key {
		case "status":
			return fastStatus(r, &res.Status)
		}
		if handled, ok := binding.DecodeReport(r, key, &res.Outcomes, &res.Logs); handled {
			return ok
		}
		return r.Unknown(key, "status", "outcomes", "logs")
	})
}

func fastStatus(r *resultjson.Reader, s *Status) bool {
	if r.Null() {
		return true
	}
	return r.Object(func(key string) bool {
		switch key {
		case "allowed":
			return r.Bool(&s.Allowed)
		case "denied":
			return r.Bool(&s.Denied)
		case "reason":
			return r.String(&s.Reason)
		case "evaluationError":
			return r.String(&s.EvaluationError)
		}
		return r.Unknown(key, "allowed", "denied", "reason", "evaluationError")
	})
}
