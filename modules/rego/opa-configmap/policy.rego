# An `opa`-style policy (Kubewarden's convention): input is {"request": <AdmissionRequest>},
# the module's settings are the data document, and the entrypoint builds an AdmissionReview
# whose `response` carries the decision.
#
# ConfigMaps: a key listed in the setting `forbidden_keys` is refused (default: "password").
# Pods: privileged containers are refused, and so are pods in a namespace listed in the
# setting `forbidden_namespaces`.
package kubewasm.configmaps

import rego.v1

default forbidden_keys := ["password"]

forbidden_keys := data.forbidden_keys

default forbidden_namespaces := []

forbidden_namespaces := data.forbidden_namespaces

deny contains msg if {
	input.request.kind.kind == "ConfigMap"
	some key, _ in input.request.object.data
	key in forbidden_keys
	msg := sprintf("ConfigMap %s: key %q is not allowed", [input.request.object.metadata.name, key])
}

deny contains msg if {
	input.request.kind.kind == "Pod"
	some container in input.request.object.spec.containers
	container.securityContext.privileged == true
	msg := sprintf("Pod %s: container %s must not be privileged", [input.request.object.metadata.name, container.name])
}

deny contains msg if {
	input.request.kind.kind == "Pod"
	input.request.namespace in forbidden_namespaces
	msg := sprintf("Pods may not be created in namespace %s", [input.request.namespace])
}

main := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": response,
}

default response := {"allowed": true}

response := {
	"uid": input.request.uid,
	"allowed": false,
	"status": {"code": 403, "message": concat("; ", sort(deny))},
} if count(deny) > 0
