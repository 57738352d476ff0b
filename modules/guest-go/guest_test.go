package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
)

// run serves one call with stdin and returns what was written to stdout.
func run(t *testing.T, stdin string, serveFn func()) string {
	t.Helper()
	var out bytes.Buffer
	saved := stdio
	stdio.in, stdio.out = strings.NewReader(stdin), &out
	defer func() { stdio = saved }()
	serveFn()
	return out.String()
}

type labelSettings struct {
	Label string `json:"label"`
}

func authenticate(review *authenticationv1.TokenReview, s Settings) (authenticationv1.TokenReviewStatus, error) {
	var cfg labelSettings
	if err := s.Decode(&cfg); err != nil {
		return authenticationv1.TokenReviewStatus{}, err
	}
	switch review.Spec.Token {
	case "":
		return authenticationv1.TokenReviewStatus{}, errors.New("no token in request")
	case "panic":
		panic("on purpose")
	case "good":
		return Authenticated(authenticationv1.UserInfo{Username: "u" + cfg.Label, Groups: []string{"g"}}), nil
	}
	return Unauthenticated(), nil
}

func authorize(review *authorizationv1.SubjectAccessReview, _ Settings) (authorizationv1.SubjectAccessReviewStatus, error) {
	switch review.Spec.User {
	case "alice":
		return Allow(), nil
	case "mallory":
		return Deny("not mallory"), nil
	}
	return NoOpinion(), nil
}

func validateNamespace(req *admissionv1.AdmissionRequest, _ Settings) (*admissionv1.AdmissionResponse, error) {
	if req.Namespace == "closed" {
		return Reject("namespace closed", 0), nil
	}
	if req.Namespace == "none" {
		return nil, nil
	}
	return Accept(), nil
}

func addValue(req *admissionv1.AdmissionRequest, cm *corev1.ConfigMap, s Settings) (*admissionv1.AdmissionResponse, error) {
	if req.Namespace == "closed" {
		return Reject("closed", 409), nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data["k"] = "v"
	return nil, nil
}

func addLabelMap(_ *admissionv1.AdmissionRequest, obj *map[string]any, s Settings) (*admissionv1.AdmissionResponse, error) {
	cfg := labelSettings{Label: "default"}
	if err := s.Decode(&cfg); err != nil {
		return nil, err
	}
	meta, _ := (*obj)["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
		meta["labels"] = labels
	}
	labels["x/y"] = cfg.Label
	return nil, nil
}

const cmReview = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},"operation":"CREATE","namespace":"%[1]s","userInfo":{},"object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"%[1]s","extra":1},"data":{"a":"b"}}}}`

func review(ns string) string {
	return strings.ReplaceAll(cmReview, "%[1]s", ns)
}

func TestServe(t *testing.T) {
	cases := []struct {
		name  string
		stdin string
		serve func()
		want  string
	}{
		{"authn ok", `{"request":{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"good"}},"settings":{"label":"1"}}`,
			func() { ServeAuthn(authenticate) },
			`{"response":{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":true,"user":{"username":"u1","groups":["g"]}}}}`},
		{"authn unknown token is not echoed", `{"request":{"spec":{"token":"secret-xyz"}}}`,
			func() { ServeAuthn(authenticate) },
			`{"response":{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"user":{}}}}`},
		{"authn handler error", `{"request":{"spec":{}}}`, func() { ServeAuthn(authenticate) },
			`{"response":null,"error":"no token in request"}`},
		{"authn panic", `{"request":{"spec":{"token":"panic"}}}`, func() { ServeAuthn(authenticate) },
			`{"response":null,"error":"panic: on purpose"}`},
		{"unknown settings field", `{"request":{"spec":{"token":"good"}},"settings":{"lable":"1"}}`, func() { ServeAuthn(authenticate) },
			`{"response":null,"error":"settings: json: unknown field \"lable\""}`},
		{"null settings are none", `{"request":{"spec":{"token":"good"}},"settings":null}`, func() { ServeAuthn(authenticate) },
			`{"response":{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":true,"user":{"username":"u","groups":["g"]}}}}`},
		{"not JSON", `{"request":`, func() { ServeAuthn(authenticate) },
			`{"response":null,"error":"invalid input: unexpected end of JSON input"}`},
		{"no request", `{"settings":{}}`, func() { ServeAuthn(authenticate) },
			`{"response":null,"error":"invalid input: no request"}`},
		{"authz allow", `{"request":{"spec":{"user":"alice"}}}`, func() { ServeAuthz(authorize) },
			`{"response":{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","status":{"allowed":true}}}`},
		{"authz deny", `{"request":{"spec":{"user":"mallory"}}}`, func() { ServeAuthz(authorize) },
			`{"response":{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","status":{"allowed":false,"denied":true,"reason":"not mallory"}}}`},
		{"authz no opinion", `{"request":{"spec":{"user":"bob"}}}`, func() { ServeAuthz(authorize) },
			`{"response":{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","status":{"allowed":false}}}`},
		{"validate accept", `{"request":` + review("open") + `}`, func() { ServeValidate(validateNamespace) },
			`{"response":{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-1","allowed":true}}}`},
		{"validate reject", `{"request":` + review("closed") + `}`, func() { ServeValidate(validateNamespace) },
			`{"response":{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-1","allowed":false,"status":{"metadata":{},"message":"namespace closed","code":403}}}}`},
		{"validate nil response", `{"request":` + review("none") + `}`, func() { ServeValidate(validateNamespace) },
			`{"response":null,"error":"the module returned no admission response"}`},
		{"validate without request", `{"request":{"kind":"AdmissionReview"}}`, func() { ServeValidate(validateNamespace) },
			`{"response":null,"error":"invalid input: no request in the AdmissionReview"}`},
		{"mutate typed", `{"request":` + review("open") + `}`, func() { ServeMutate(addValue) },
			`{"response":{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-1","allowed":true,"patch":"` +
				b64(`[{"op":"add","path":"/data/k","value":"v"},{"op":"remove","path":"/metadata/extra"}]`) + `","patchType":"JSONPatch"}}}`},
		{"mutate map keeps unknown fields", `{"request":` + review("open") + `,"settings":{"label":"s"}}`, func() { ServeMutate(addLabelMap) },
			`{"response":{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-1","allowed":true,"patch":"` +
				b64(`[{"op":"add","path":"/metadata/labels","value":{"x/y":"s"}}]`) + `","patchType":"JSONPatch"}}}`},
		{"mutate rejects", `{"request":` + review("closed") + `}`, func() { ServeMutate(addValue) },
			`{"response":{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-1","allowed":false,"status":{"metadata":{},"message":"closed","code":409}}}}`},
		{"mutate without object", `{"request":{"request":{"uid":"u-2"}}}`, func() { ServeMutate(addValue) },
			`{"response":null,"error":"no object in request"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := run(t, c.stdin, c.serve); got != c.want {
				t.Errorf("\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

func b64(s string) string {
	b, _ := json.Marshal([]byte(s))
	return strings.Trim(string(b), `"`)
}

func TestMutateUnchangedHasNoPatch(t *testing.T) {
	req := &admissionv1.AdmissionRequest{}
	req.Object.Raw = []byte(`{"a":[1,2]}`)
	resp, err := Mutate(req, map[string]any{"a": []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil {
		t.Errorf("got %+v, want allowed without patch", resp)
	}
}

func TestSettings(t *testing.T) {
	cases := []struct {
		raw        string
		configured bool
		err        string
	}{
		{"", false, ""},
		{"null", false, ""},
		{` {"label":"x"} `, true, ""},
		{`{"label":1}`, true, "settings: json: cannot unmarshal number"},
		{`{"label":"x"} {}`, true, "settings: more than one JSON value"},
	}
	for _, c := range cases {
		s := NewSettings(json.RawMessage(c.raw))
		if s.Configured() != c.configured {
			t.Errorf("%q: Configured() = %v", c.raw, s.Configured())
		}
		var v labelSettings
		err := s.Decode(&v)
		if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%q: Decode error %v, want %q", c.raw, err, c.err)
		}
	}
}
