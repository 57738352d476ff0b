package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// notAllowedKey is the ConfigMap data key magic-validator rejects.
	notAllowedKey = "not-allowed-value"
	// mandatoryAnnotation is the annotation the examples configure
	// safe-annotations to require.
	mandatoryAnnotation = "puzzle.ch/owner"
	// maxBody bounds the request body (the API server sends at most a few
	// MiB: the object, the old object and the request's metadata).
	maxBody = 16 << 20
)

// admitFunc decides on a ConfigMap and returns the response (without uid).
type admitFunc func(cm *corev1.ConfigMap) (*admissionv1.AdmissionResponse, error)

// serve decodes the AdmissionReview, decodes its object as a ConfigMap,
// calls admit and writes the AdmissionReview answer.
func serve(admit admitFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil {
			http.Error(w, "decoding the AdmissionReview: "+err.Error(), http.StatusBadRequest)
			return
		}
		if review.Request == nil {
			http.Error(w, "the AdmissionReview has no request", http.StatusBadRequest)
			return
		}
		var cm corev1.ConfigMap
		resp, err := func() (*admissionv1.AdmissionResponse, error) {
			if err := json.Unmarshal(review.Request.Object.Raw, &cm); err != nil {
				return nil, fmt.Errorf("decoding the object: %w", err)
			}
			if cm.Kind != "ConfigMap" || cm.APIVersion != "v1" {
				return nil, fmt.Errorf("the object is a %s %s, not a v1 ConfigMap: configure the webhook for configmaps only", cm.APIVersion, cm.Kind)
			}
			return admit(&cm)
		}()
		if err != nil {
			// An error answer: the API server applies the failurePolicy.
			resp = &admissionv1.AdmissionResponse{Result: &metav1.Status{Code: http.StatusBadRequest, Message: err.Error()}}
		}
		resp.UID = review.Request.UID
		out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	}
}

// validate applies magic-validator's and safe-annotations' checks.
func validate(cm *corev1.ConfigMap) (*admissionv1.AdmissionResponse, error) {
	if _, ok := cm.Data[notAllowedKey]; ok {
		return deny(fmt.Sprintf("value '%s' not allowed in configmap", notAllowedKey)), nil
	}
	if _, ok := cm.Annotations[mandatoryAnnotation]; !ok {
		return deny("The following mandatory annotations are missing: " + mandatoryAnnotation), nil
	}
	return &admissionv1.AdmissionResponse{Allowed: true}, nil
}

func deny(msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Result: &metav1.Status{Code: http.StatusForbidden, Message: msg}}
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// mutate sets data["magic-value"] = "foobar", as magic-mutator does.
func mutate(cm *corev1.ConfigMap) (*admissionv1.AdmissionResponse, error) {
	op := patchOp{Op: "add", Path: "/data/magic-value", Value: "foobar"}
	if cm.Data == nil {
		op = patchOp{Op: "add", Path: "/data", Value: map[string]string{"magic-value": "foobar"}}
	}
	patch, err := json.Marshal([]patchOp{op})
	if err != nil {
		return nil, err
	}
	pt := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}, nil
}
