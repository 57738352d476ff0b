# A Gatekeeper-style policy gone wrong (tests only): with parameters.explode it builds a set of
# a hundred million numbers, which no memory or time limit lets it finish.
package hostile

import rego.v1

violation contains {"msg": sprintf("%d numbers", [count(all)])} if {
	input.parameters.explode
	all := {n | some n in numbers.range(1, 100000000)}
}

violation contains {"msg": "calm"} if {
	not input.parameters.explode
	input.review.object.metadata.name == "calm"
}
