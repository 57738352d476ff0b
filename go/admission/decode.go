package admission

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/resultjson"
)

// decodeResult decodes the library's answer to kubewasm_admit: without
// reflection when the document has the library's usual shape, with
// encoding/json otherwise (see package resultjson).
func decodeResult(out []byte) (Result, error) {
	return resultjson.Decode(out, fastResult)
}

func fastResult(r *resultjson.Reader, res *Result) bool {
	return r.Object(func(key string) bool {
		switch key {
		case "allowed":
			return r.Bool(&res.Allowed)
		case "status":
			if r.Null() {
				res.Status = nil
				return true
			}
			if res.Status == nil {
				res.Status = &metav1.Status{}
			}
			return fastStatus(r, res.Status)
		case "module":
			return r.String(&res.Module)
		case "error":
			return r.String(&res.Error)
		case "patch":
			raw, ok := r.Raw()
			if !ok || raw[0] == 'n' {
				return false
			}
			// The bytes alias the library's buffer, freed after the call.
			res.Patch = append(res.Patch[:0], raw...)
			return true
		case "warnings":
			return r.Strings(&res.Warnings)
		case "auditAnnotations":
			return fastAuditAnnotations(r, &res.AuditAnnotations)
		}
		if handled, ok := binding.DecodeReport(r, key, &res.Outcomes, &res.Logs); handled {
			return ok
		}
		return r.Unknown(key, "allowed", "status", "module", "error", "patch",
			"warnings", "auditAnnotations", "outcomes", "logs")
	})
}

// fastStatus reads the status the library writes (code, message, reason).
func fastStatus(r *resultjson.Reader, s *metav1.Status) bool {
	return r.Object(func(key string) bool {
		switch key {
		case "code":
			code := int64(s.Code)
			if !r.Int(&code, 32) {
				return false
			}
			s.Code = int32(code)
			return true
		case "message":
			return r.String(&s.Message)
		case "reason":
			reason := string(s.Reason)
			if !r.String(&reason) {
				return false
			}
			s.Reason = metav1.StatusReason(reason)
			return true
		}
		return r.Unknown(key, "kind", "apiVersion", "metadata", "status", "message",
			"reason", "details", "code")
	})
}

func fastAuditAnnotations(r *resultjson.Reader, v *[]AuditAnnotation) bool {
	return resultjson.Slice(r, v, func(a *AuditAnnotation) bool {
		return r.Object(func(key string) bool {
			switch key {
			case "module":
				return r.String(&a.Module)
			case "key":
				return r.String(&a.Key)
			case "value":
				return r.String(&a.Value)
			}
			return r.Unknown(key, "module", "key", "value")
		})
	})
}
