// Package guest is the Go SDK for kubewasm modules of type `wasi`: a module built with the
// standard Go toolchain (GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared) that exports `authn`,
// `authz` or `validate` with //go:wasmexport and serves each call with one of ServeAuthn,
// ServeAuthz, ServeValidate or ServeMutate.
//
// The protocol: the host writes {"request": <review>, "settings": <settings>} to stdin
// ("settings" only when the module's configuration has some), calls the export, and reads
// {"response": <review>} or {"response": null, "error": "<message>"} from stdout. An error or
// a panic in a handler becomes the "error" answer, which the host treats as a failed call
// (the step's failure policy applies). Reviews are the Kubernetes types of k8s.io/api:
// authentication/v1 TokenReview, authorization/v1 SubjectAccessReview and admission/v1
// AdmissionReview.
//
// A complete validating module:
//
//	package main
//
//	import (
//		admissionv1 "k8s.io/api/admission/v1"
//
//		"github.com/kubewasm/kubewasm/modules/guest-go"
//	)
//
//	//go:wasmexport validate
//	func validate() { guest.ServeValidate(decide) }
//
//	func decide(req *admissionv1.AdmissionRequest, _ guest.Settings) (*admissionv1.AdmissionResponse, error) {
//		if req.Namespace == "forbidden" {
//			return guest.Reject("namespace 'forbidden' is closed", 403), nil
//		}
//		return guest.Accept(), nil
//	}
//
//	func main() {}
package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Settings are the module's settings from its configuration (any JSON value), or none.
type Settings struct {
	raw json.RawMessage
}

// NewSettings makes Settings from raw JSON; nil or empty means none are configured. Modules get
// theirs from the Serve functions; this is for tests of handlers.
func NewSettings(raw json.RawMessage) Settings {
	if len(bytes.TrimSpace(raw)) == 0 {
		return Settings{}
	}
	return Settings{raw: raw}
}

// Configured reports whether the configuration gives the module settings (`null` counts as
// none).
func (s Settings) Configured() bool {
	return len(s.raw) > 0 && !bytes.Equal(bytes.TrimSpace(s.raw), []byte("null"))
}

// Raw returns the settings' JSON as the host sent it (nil when none are configured).
func (s Settings) Raw() json.RawMessage {
	return s.raw
}

// Decode decodes the settings into v, strictly: a field v does not have is an error naming it,
// so that a typo in the configuration fails loudly. Without settings v is left as it is (set
// its defaults before calling).
func (s Settings) Decode(v any) error {
	if !s.Configured() {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(s.raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	if d.More() {
		return fmt.Errorf("settings: more than one JSON value")
	}
	return nil
}

// input is the envelope the host writes to stdin.
type input struct {
	Request  json.RawMessage `json:"request"`
	Settings json.RawMessage `json:"settings"`
}

// output is the envelope the module writes to stdout.
type output struct {
	Response any    `json:"response"`
	Error    string `json:"error,omitempty"`
}

// serve reads one envelope from in, decodes its request into a fresh Req, lets handle answer,
// and writes the answer envelope to out. Errors and panics become the envelope's "error".
func serve[Req any](in io.Reader, out io.Writer, handle func(*Req, Settings) (any, error)) {
	response, err := answer(in, handle)
	var env output
	if err != nil {
		env.Error = err.Error()
	} else {
		env.Response = response
	}
	b, merr := json.Marshal(env)
	if merr != nil {
		b, _ = json.Marshal(output{Error: fmt.Sprintf("cannot encode the response: %v", merr)})
	}
	// Nothing to do if stdout fails: the host sees a missing or cut answer as a failed call.
	_, _ = out.Write(b)
}

// answer decodes the envelope and runs handle, turning a panic into an error.
func answer[Req any](in io.Reader, handle func(*Req, Settings) (any, error)) (response any, err error) {
	raw, err := io.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("cannot read stdin: %w", err)
	}
	var env input
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("invalid input: %w", err)
	}
	if len(env.Request) == 0 || bytes.Equal(env.Request, []byte("null")) {
		return nil, fmt.Errorf("invalid input: no request")
	}
	req := new(Req)
	if err := json.Unmarshal(env.Request, req); err != nil {
		return nil, fmt.Errorf("invalid input: request: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			response, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return handle(req, NewSettings(env.Settings))
}

// stdio is where the Serve functions read and write; tests replace it.
var stdio = struct {
	in  io.Reader
	out io.Writer
}{os.Stdin, os.Stdout}
