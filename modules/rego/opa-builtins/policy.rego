# A probe of the host's builtins (tests only), opa-style: the rejection's message is the JSON
# of what each builtin returned.
package probe

import rego.v1

result := {
	"sprintf": sprintf("%s|%d|%v|%q|%x|%.2f|%5s|%-4d|%%|%t", ["a", 7, {"k": [1, "x"]}, "q\"", 255, 3.14159, "ab", 12, true]),
	"sprintf_missing": sprintf("%s %s", ["only"]),
	"sprintf_set": sprintf("%v", [{"a"}]),
	"now_positive": time.now_ns() > 1600000000000000000,
	"now_stable": time.now_ns() == time.now_ns(),
	"traced": trace("probe"),
	"any_prefix": strings.any_prefix_match({"r/b", "x/c"}, ["q/", "r/"]),
	"count": strings.count("cheese", "e"),
	"hex": hex.encode("hi"),
	"quoted": glob.quote_meta("a*"),
	"name": input.request.name,
	"settings": settings,
}

default settings := null

settings := data.greeting

main := {"response": {"allowed": false, "status": {"message": json.marshal(result)}}}
