package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// configSource is a configuration file to load, optionally with the settings
// of its single module replaced (--settings-json, --settings-path, or a test
// suite's settings), as kwctl run takes a policy's settings.
type configSource struct {
	// path is the configuration file.
	path string
	// settings, when not nil, replace the settings of the configuration's
	// only module (JSON).
	settings json.RawMessage
	// namespaceLabels are extra labels of every namespace the offline run
	// looks up (admit --namespace-labels).
	namespaceLabels map[string]string
}

// load returns the configuration document to give the library and the
// directory its relative module paths resolve against.
func (c configSource) load(kind binding.Kind) ([]byte, string, error) {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Dir(c.path)
	if c.settings == nil {
		return data, dir, nil
	}
	out, dir, err := overrideSettings(kind, data, dir, c.settings)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", c.path, err)
	}
	return out, dir, nil
}

// overrideSettings replaces the settings of the only module of a
// configuration document. An AdmissionConfiguration is followed to the WASM
// plugin's inline configuration or to the file its path names (then the
// returned directory is that file's). The result is the modules document
// (JSON); every other field is kept, so that the library still reports
// whatever is wrong with it.
func overrideSettings(kind binding.Kind, data []byte, dir string, settings json.RawMessage) ([]byte, string, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, "", fmt.Errorf("not YAML or JSON: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, "", fmt.Errorf("the configuration is not a map: %w", err)
	}
	if _, ok := doc["plugins"]; ok && kind == binding.KindAdmission {
		doc, dir, err = wasmPluginConfig(doc, dir)
		if err != nil {
			return nil, "", err
		}
	}
	var mods []map[string]json.RawMessage
	if raw, ok := doc["modules"]; ok {
		if err := json.Unmarshal(raw, &mods); err != nil {
			return nil, "", fmt.Errorf("field \"modules\": %w", err)
		}
	}
	if len(mods) != 1 {
		return nil, "", fmt.Errorf("settings given on the command line (or in a test suite) replace the settings of the only module, but the configuration has %d modules", len(mods))
	}
	mods[0]["settings"] = settings
	if doc["modules"], err = json.Marshal(mods); err != nil {
		return nil, "", err
	}
	out, err := json.Marshal(doc)
	return out, dir, err
}

// wasmPluginConfig returns the WASM plugin's configuration in an
// AdmissionConfiguration document, and the directory of the file it was read
// from.
func wasmPluginConfig(doc map[string]json.RawMessage, dir string) (map[string]json.RawMessage, string, error) {
	var plugins []struct {
		Name          string                     `json:"name"`
		Path          string                     `json:"path"`
		Configuration map[string]json.RawMessage `json:"configuration"`
	}
	if err := json.Unmarshal(doc["plugins"], &plugins); err != nil {
		return nil, "", fmt.Errorf("AdmissionConfiguration: field \"plugins\": %w", err)
	}
	for _, p := range plugins {
		if p.Name != "WASM" {
			continue
		}
		if p.Configuration != nil {
			return p.Configuration, dir, nil
		}
		if p.Path == "" {
			return nil, "", fmt.Errorf("AdmissionConfiguration: the WASM plugin needs \"configuration\" or \"path\"")
		}
		file := p.Path
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("AdmissionConfiguration: the WASM plugin's path: %w", err)
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, "", fmt.Errorf("%s: not YAML or JSON: %w", file, err)
		}
		var conf map[string]json.RawMessage
		if err := json.Unmarshal(js, &conf); err != nil {
			return nil, "", fmt.Errorf("%s: the configuration is not a map: %w", file, err)
		}
		return conf, filepath.Dir(file), nil
	}
	return nil, "", fmt.Errorf("AdmissionConfiguration: has no plugin named WASM")
}

// readSettings returns the settings given by --settings-json or
// --settings-path (JSON or YAML), or nil when neither is set.
func readSettings(inline, path string) (json.RawMessage, error) {
	switch {
	case inline != "" && path != "":
		return nil, fmt.Errorf("%w: give --settings-json or --settings-path, not both", errUsage)
	case inline != "":
		js, err := yaml.YAMLToJSON([]byte(inline))
		if err != nil {
			return nil, fmt.Errorf("%w: --settings-json: %v", errUsage, err)
		}
		return js, nil
	case path != "":
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--settings-path: %w", err)
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("--settings-path %s: %w", path, err)
		}
		return js, nil
	}
	return nil, nil
}

// decodeAdmission reads an AdmissionReview, or a bare AdmissionRequest (the
// form of many Kubewarden policies' test_data, written for kwctl run), and
// returns it as an AdmissionReview whose request is completed as the API
// server would send it (see completeRequest).
func decodeAdmission(js []byte) (*admissionv1.AdmissionReview, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, fmt.Errorf("decoding AdmissionReview: %w", err)
	}
	review := &admissionv1.AdmissionReview{}
	if isBareRequest(top) {
		var req admissionv1.AdmissionRequest
		if err := strictUnmarshal(js, &req); err != nil {
			return nil, fmt.Errorf("decoding AdmissionRequest: %w", err)
		}
		review.Request = &req
	} else {
		if err := strictUnmarshal(js, review); err != nil {
			return nil, fmt.Errorf("decoding AdmissionReview: %w", err)
		}
		if review.Request == nil {
			return nil, fmt.Errorf("the AdmissionReview has no request")
		}
	}
	if err := completeRequest(review.Request); err != nil {
		return nil, err
	}
	return review, nil
}

// isBareRequest tells an AdmissionRequest from an AdmissionReview: a review
// has a request (or response) and its kind is a string; a request's kind is
// a group/version/kind map.
func isBareRequest(top map[string]json.RawMessage) bool {
	if _, ok := top["request"]; ok {
		return false
	}
	if _, ok := top["response"]; ok {
		return false
	}
	if k, ok := top["kind"]; ok {
		return bytes.HasPrefix(bytes.TrimSpace(k), []byte("{"))
	}
	for _, f := range []string{"operation", "uid", "object", "oldObject", "resource"} {
		if _, ok := top[f]; ok {
			return true
		}
	}
	return false
}

// completeRequest fills in what the API server always sends and hand-written
// requests often lack: the objects' kind and apiVersion (from request.kind)
// and request.resource (guessed from the kind, as kubectl does without
// discovery).
func completeRequest(req *admissionv1.AdmissionRequest) error {
	if req.Kind.Kind == "" || req.Kind.Version == "" {
		return fmt.Errorf("request.kind must name the object's version and kind (e.g. {group: \"\", version: v1, kind: ConfigMap})")
	}
	gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
	if req.Resource.Resource == "" {
		gvr, _ := meta.UnsafeGuessKindToResource(gvk)
		req.Resource.Group, req.Resource.Version, req.Resource.Resource = gvr.Group, gvr.Version, gvr.Resource
	}
	var err error
	if req.Object.Raw, err = withTypeMeta(req.Object.Raw, gvk); err != nil {
		return fmt.Errorf("request.object: %w", err)
	}
	if req.OldObject.Raw, err = withTypeMeta(req.OldObject.Raw, gvk); err != nil {
		return fmt.Errorf("request.oldObject: %w", err)
	}
	return nil
}

// withTypeMeta sets apiVersion and kind on an object that lacks them.
func withTypeMeta(raw []byte, gvk schema.GroupVersionKind) ([]byte, error) {
	if len(raw) == 0 || strings.TrimSpace(string(raw)) == "null" {
		return raw, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	_, hasKind := obj["kind"]
	_, hasVersion := obj["apiVersion"]
	if hasKind && hasVersion {
		return raw, nil
	}
	if !hasKind {
		obj["kind"], _ = json.Marshal(gvk.Kind)
	}
	if !hasVersion {
		obj["apiVersion"], _ = json.Marshal(gvk.GroupVersion().String())
	}
	return json.Marshal(obj)
}
