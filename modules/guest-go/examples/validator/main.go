// Command validator is the Go twin of modules/magic-validator: a ConfigMap whose data has the
// key "not-allowed-value" is rejected (403); any other ConfigMap is admitted. An object that is
// not a v1 ConfigMap fails the call (configure rules for configmaps only). Settings are ignored.
package main

import (
	"encoding/json"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubewasm/kubewasm/modules/guest-go"
)

//go:wasmexport validate
func validate() { guest.ServeValidate(admit) }

func admit(request *admissionv1.AdmissionRequest, _ guest.Settings) (*admissionv1.AdmissionResponse, error) {
	cm, err := configMap(request.Object.Raw)
	if err != nil {
		return nil, err
	}
	if _, found := cm.Data["not-allowed-value"]; found {
		return guest.Reject("value 'not-allowed-value' not allowed in configmap", 403), nil
	}
	return guest.Accept(), nil
}

// configMap decodes a v1 ConfigMap, refusing any other kind.
func configMap(raw []byte) (*corev1.ConfigMap, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("no object in request")
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(raw, &cm); err != nil {
		return nil, fmt.Errorf("cannot decode the object: %w", err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" {
		return nil, fmt.Errorf("expected a v1 ConfigMap, got apiVersion '%s' kind '%s'", cm.APIVersion, cm.Kind)
	}
	return &cm, nil
}

func main() {}
