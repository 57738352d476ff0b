package guest

import (
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Admitter decides an AdmissionRequest (the object is in request.Object.Raw, the old one in
// request.OldObject.Raw). It returns the response (see Accept, Reject and Mutate; its UID is
// filled in); an error fails the call and the module's failurePolicy applies.
type Admitter func(request *admissionv1.AdmissionRequest, settings Settings) (*admissionv1.AdmissionResponse, error)

// Mutator changes object, the request's object decoded into a T, in place. A nil response
// admits the request with the JSONPatch from the request's object to the changed one (none when
// nothing changed); a non-nil response is sent as it is (for instance Reject), object ignored.
// An error fails the call.
//
// T is what the object is decoded into and encoded from: a map[string]any keeps every field; a
// typed struct (corev1.ConfigMap) drops fields it does not know and writes its zero values, and
// the patch says so — fine for the kinds it models, as long as it is the same version.
type Mutator[T any] func(request *admissionv1.AdmissionRequest, object *T, settings Settings) (*admissionv1.AdmissionResponse, error)

// admissionReviewResponse is the answer to an AdmissionReview: the request is not echoed.
type admissionReviewResponse struct {
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Response   *admissionv1.AdmissionResponse `json:"response"`
}

// ServeValidate serves one call of the `validate` export with h. Validating and mutating
// modules alike export `validate`:
//
//	//go:wasmexport validate
//	func validate() { guest.ServeValidate(admit) }
func ServeValidate(h Admitter) {
	serve(stdio.in, stdio.out, func(review *admissionv1.AdmissionReview, s Settings) (any, error) {
		return admit(review, s, h)
	})
}

// ServeMutate serves one call of the `validate` export of a mutating module with h, which
// changes the request's object decoded into a T; the answer carries the JSONPatch:
//
//	//go:wasmexport validate
//	func validate() { guest.ServeMutate(addLabel) }
//
//	func addLabel(_ *admissionv1.AdmissionRequest, obj *map[string]any, _ guest.Settings) (*admissionv1.AdmissionResponse, error) { … }
func ServeMutate[T any](h Mutator[T]) {
	ServeValidate(func(request *admissionv1.AdmissionRequest, s Settings) (*admissionv1.AdmissionResponse, error) {
		return mutate(request, s, h)
	})
}

// mutate decodes the request's object into a T, lets h change it, and answers with h's
// response or the patch.
func mutate[T any](request *admissionv1.AdmissionRequest, s Settings, h Mutator[T]) (*admissionv1.AdmissionResponse, error) {
	if len(request.Object.Raw) == 0 {
		return nil, fmt.Errorf("no object in request")
	}
	object := new(T)
	if err := json.Unmarshal(request.Object.Raw, object); err != nil {
		return nil, fmt.Errorf("cannot decode the request's object: %w", err)
	}
	response, err := h(request, object, s)
	if err != nil || response != nil {
		return response, err
	}
	return Mutate(request, object)
}

// admit checks the review, runs h and completes its response.
func admit(review *admissionv1.AdmissionReview, s Settings, h Admitter) (any, error) {
	if review.Request == nil {
		return nil, fmt.Errorf("invalid input: no request in the AdmissionReview")
	}
	response, err := h(review.Request, s)
	if err != nil {
		return nil, err
	}
	if response == nil {
		return nil, fmt.Errorf("the module returned no admission response")
	}
	response.UID = review.Request.UID
	return admissionReviewResponse{
		APIVersion: admissionv1.SchemeGroupVersion.String(),
		Kind:       "AdmissionReview",
		Response:   response,
	}, nil
}

// Accept admits the request unchanged.
func Accept() *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: true}
}

// Reject refuses the request with message and HTTP status code (403 when 0).
func Reject(message string, code int32) *admissionv1.AdmissionResponse {
	if code == 0 {
		code = http.StatusForbidden
	}
	return &admissionv1.AdmissionResponse{
		Allowed: false,
		Result:  &metav1.Status{Message: message, Code: code},
	}
}

// Mutate admits the request with the RFC 6902 JSONPatch that turns the request's object into
// modified (any value that encodes to JSON: the changed object as a map or a Kubernetes type).
// Nothing changed means no patch.
func Mutate(request *admissionv1.AdmissionRequest, modified any) (*admissionv1.AdmissionResponse, error) {
	if len(request.Object.Raw) == 0 {
		return nil, fmt.Errorf("no object in request")
	}
	after, err := json.Marshal(modified)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the modified object: %w", err)
	}
	patch, err := JSONPatch(request.Object.Raw, after)
	if err != nil {
		return nil, err
	}
	response := Accept()
	if string(patch) != "[]" {
		patchType := admissionv1.PatchTypeJSONPatch
		response.Patch = patch
		response.PatchType = &patchType
	}
	return response, nil
}
