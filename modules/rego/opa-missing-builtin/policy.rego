# Uses a builtin the host does not provide (http.send): loading it must fail, naming it.
package missing

import rego.v1

allow if {
	resp := http.send({"method": "GET", "url": input.url})
	resp.status_code == 200
}
