// Command mutator is the Go twin of modules/magic-mutator: it sets data["magic-value"] to
// "foobar" on every ConfigMap and admits it, answering with a JSONPatch (the Rust module sends
// the whole object instead). An object that is not a v1 ConfigMap fails the call (configure
// rules for configmaps only). Settings are ignored.
package main

import (
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubewasm/kubewasm/modules/guest-go"
)

//go:wasmexport validate
func validate() { guest.ServeMutate(addMagic) }

// addMagic changes the ConfigMap in place; the SDK computes the patch.
func addMagic(_ *admissionv1.AdmissionRequest, cm *corev1.ConfigMap, _ guest.Settings) (*admissionv1.AdmissionResponse, error) {
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" {
		return nil, fmt.Errorf("expected a v1 ConfigMap, got apiVersion '%s' kind '%s'", cm.APIVersion, cm.Kind)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data["magic-value"] = "foobar"
	return nil, nil
}

func main() {}
