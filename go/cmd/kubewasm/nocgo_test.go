//go:build !cgo

package main

import (
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/admission"

	wasmadmission "github.com/kubewasm/kubewasm/go/admission"
	wasmauthenticator "github.com/kubewasm/kubewasm/go/authenticator"
	wasmauthorizer "github.com/kubewasm/kubewasm/go/authorizer"
)

// TestConstructorsWithoutCgo: every constructor the API server patches call
// fails clearly in a CGO_ENABLED=0 build.
func TestConstructorsWithoutCgo(t *testing.T) {
	const want = "kubewasm: built without cgo"
	check := func(name string, err error) {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want %q, got %v", name, want, err)
		}
	}
	_, err := wasmauthenticator.New([]byte("modules: []"), "", nil)
	check("authenticator.New", err)
	_, err = wasmauthorizer.New([]byte("modules: []"), "")
	check("authorizer.New", err)
	_, err = wasmadmission.NewFromReader(strings.NewReader("modules: []"), "")
	check("admission.NewFromReader", err)
	plugins := admission.NewPlugins()
	wasmadmission.Register(plugins)
	_, err = plugins.InitPlugin(wasmadmission.PluginName, strings.NewReader("modules: []"), nil)
	check("plugin factory", err)
}
