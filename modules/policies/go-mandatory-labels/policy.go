// Command go-mandatory-labels is a Kubewarden policy built with the standard
// Go toolchain (GOOS=wasip1 GOARCH=wasm), using github.com/kubewarden/policy-sdk-go
// for the protocol types and responses.
//
// It rejects objects of any kind that lack one of the labels listed in the
// settings: {"mandatory_labels": ["app", ...]}. Message (no code):
//
//	The following mandatory labels are missing: a,b
//
// The same module speaks both Kubewarden execution modes:
//   - kubewarden-wapc: exports __guest_call and wapc_init (wapc_wasip1.go);
//     the host calls _start first (it exits with code 0 without arguments);
//   - wasi: argv[1] is "validate" or "validate-settings", the payload on stdin,
//     the response on stdout, errors on stderr with exit code 1 (main below).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	sdk "github.com/kubewarden/policy-sdk-go"
	"github.com/kubewarden/policy-sdk-go/protocol"
)

// Settings are the policy's settings.
type Settings struct {
	MandatoryLabels []string `json:"mandatory_labels"`
}

// parseSettings decodes and checks settings; null or empty means none.
// Unknown fields and wrong types are errors.
func parseSettings(raw []byte) (Settings, error) {
	var s Settings
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, err
	}
	for _, label := range s.MandatoryLabels {
		if label == "" {
			return s, errors.New("label names must not be empty")
		}
	}
	return s, nil
}

// validateSettings is the validate_settings operation.
func validateSettings(payload []byte) ([]byte, error) {
	if _, err := parseSettings(payload); err != nil {
		return sdk.RejectSettings(sdk.Message(fmt.Sprintf("Provided settings are not valid: %v", err)))
	}
	return sdk.AcceptSettings()
}

// validate is the validate operation.
func validate(payload []byte) ([]byte, error) {
	var req protocol.ValidationRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return sdk.RejectRequest(sdk.Message(fmt.Sprintf("Cannot decode the validation request: %v", err)), 400)
	}
	settings, err := parseSettings(req.Settings)
	if err != nil {
		return sdk.RejectRequest(sdk.Message(fmt.Sprintf("Provided settings are not valid: %v", err)), 400)
	}
	var object struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if raw := bytes.TrimSpace(req.Request.Object); len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &object); err != nil {
			return sdk.RejectRequest(sdk.Message(fmt.Sprintf("Cannot decode the object: %v", err)), 400)
		}
	}
	var missing []string
	for _, label := range settings.MandatoryLabels {
		if _, ok := object.Metadata.Labels[label]; !ok {
			missing = append(missing, label)
		}
	}
	if len(missing) > 0 {
		return sdk.RejectRequest(sdk.Message("The following mandatory labels are missing: "+strings.Join(missing, ",")), sdk.NoCode)
	}
	return sdk.AcceptRequest()
}

// main serves Kubewarden's wasi execution mode. Without arguments (the waPC
// host's _start) it only lets the package initialise.
func main() {
	if len(os.Args) < 2 {
		return
	}
	var handler func([]byte) ([]byte, error)
	switch os.Args[1] {
	case "validate":
		handler = validate
	case "validate-settings":
		handler = validateSettings
	default:
		fmt.Fprintln(os.Stderr, "wrong subcommand, expected either 'validate' or 'validate-settings'")
		os.Exit(1)
	}
	input, err := io.ReadAll(os.Stdin)
	if err == nil {
		var response []byte
		if response, err = handler(input); err == nil {
			_, err = os.Stdout.Write(response)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
