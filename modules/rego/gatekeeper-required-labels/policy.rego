# A Gatekeeper-style policy in the manner of the Gatekeeper library's k8srequiredlabels:
# input is {"review": <AdmissionRequest>, "parameters": <settings>}, each `violation` is one
# reason to refuse.
#
# parameters:
#   labels:   [{key: <label>, allowedRegex: <regular expression, optional>}]
#   message:  text put in front of every violation (optional)
package k8srequiredlabels

import rego.v1

prefix := object.get(input.parameters, "message", "")

labels := object.get(input.parameters, "labels", [])

provided := {key | some key, _ in input.review.object.metadata.labels}

# Parameters are checked by the policy itself, as Gatekeeper's ConstraintTemplate schema would.
violation contains {"msg": "parameters.labels must be a list of {key, allowedRegex}"} if {
	not is_array(labels)
}

violation contains {"msg": msg, "details": {"missing_label": label.key}} if {
	is_array(labels)
	some label in labels
	not label.key in provided
	msg := trim_space(sprintf("%s you must provide label %q", [prefix, label.key]))
}

violation contains {"msg": msg} if {
	is_array(labels)
	some label in labels
	value := input.review.object.metadata.labels[label.key]
	pattern := object.get(label, "allowedRegex", "")
	pattern != ""
	not regex.match(pattern, value)
	msg := trim_space(sprintf("%s label <%v: %v> does not satisfy allowed regex: %v", [prefix, label.key, value, pattern]))
}
