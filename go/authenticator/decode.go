package authenticator

import (
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/resultjson"
)

// decodeResult decodes the library's answer to kubewasm_authenticate: without
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

func fastStatus(r *resultjson.Reader, s *authenticationv1.TokenReviewStatus) bool {
	if r.Null() {
		return true
	}
	return r.Object(func(key string) bool {
		switch key {
		case "authenticated":
			return r.Bool(&s.Authenticated)
		case "user":
			return fastUser(r, &s.User)
		case "audiences":
			return r.Strings(&s.Audiences)
		case "error":
			return r.String(&s.Error)
		}
		return r.Unknown(key, "authenticated", "user", "audiences", "error")
	})
}

func fastUser(r *resultjson.Reader, u *authenticationv1.UserInfo) bool {
	if r.Null() {
		return true
	}
	return r.Object(func(key string) bool {
		switch key {
		case "username":
			return r.String(&u.Username)
		case "uid":
			return r.String(&u.UID)
		case "groups":
			return r.Strings(&u.Groups)
		case "extra":
			if r.Null() {
				u.Extra = nil
				return true
			}
			if u.Extra == nil {
				u.Extra = map[string]authenticationv1.ExtraValue{}
			}
			return r.Object(func(name string) bool {
				var values []string
				if !r.Strings(&values) {
					return false
				}
				u.Extra[name] = values
				return true
			})
		}
		return r.Unknown(key, "username", "uid", "groups", "extra")
	})
}
