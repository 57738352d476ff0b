# A Gatekeeper-style policy in the manner of the Gatekeeper library's k8sallowedrepos: every
# container, init container and ephemeral container of a Pod must use an image from one of
# the allowed repositories (prefixes).
#
# parameters:
#   repos: [<image prefix>]
package k8sallowedrepos

import rego.v1

repos := object.get(input.parameters, "repos", [])

containers contains c if some c in input.review.object.spec.containers

containers contains c if some c in input.review.object.spec.initContainers

containers contains c if some c in input.review.object.spec.ephemeralContainers

violation contains {"msg": msg} if {
	some container in containers
	not strings.any_prefix_match(container.image, repos)
	msg := sprintf("container <%v> has an invalid image repo <%v>, allowed repos are %v", [container.name, container.image, repos])
}
