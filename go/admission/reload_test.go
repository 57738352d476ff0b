//go:build cgo

package admission

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/admission"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

// The reload tests run the real library on a configuration directory of
// their own: admission.yaml (an AdmissionConfiguration, the file
// kube-apiserver is given) whose WASM plugin names ./policy.wasm by a
// relative path, with settings that settings-admitter reads ("deny every
// ConfigMap") and magic-validator ignores. Replacing policy.wasm alone
// changes the decision.

const reloadAdmissionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: WASM
  configuration:
    modules:
    - name: policy
      module: policy.wasm
      settings: {"allowed": false, "message": "denied by the reloaded policy"}
      rules:
      - operations: ["CREATE"]
        apiGroups: [""]
        apiVersions: ["v1"]
        resources: ["configmaps"]
`

// copyFile replaces dst with src's content the way a ConfigMap volume
// does: a new file renamed over the old one.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, data)
}

func writeFile(t testing.TB, dst string, data []byte) {
	t.Helper()
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// newReloading starts a plugin on dir/admission.yaml with policy.wasm a copy
// of fixture module, polling every interval.
func newReloading(t *testing.T, module string, interval time.Duration) (*Plugin, string) {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, fixtures.Path(t, module), filepath.Join(dir, "policy.wasm"))
	cfg := filepath.Join(dir, "admission.yaml")
	writeFile(t, cfg, []byte(reloadAdmissionConfig))
	t.Setenv("KUBEWASM_CONFIG_RELOAD_INTERVAL", interval.String())
	p, err := NewFromConfigFile(cfg)
	if err != nil {
		t.Fatalf("NewFromConfigFile: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	p.SetNamespaceLister(staticNamespaces{"default": {}})
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p, dir
}

// validateConfigMap runs the validating phase on a new ConfigMap; nil is
// admitted.
func validateConfigMap(p *Plugin) error {
	a := createAttrs(configMap("default", "cm", nil, map[string]string{"a": "b"}), configMapGVK, configMapGVR, "default", "cm", "", false)
	return p.Validate(context.Background(), a, objectInterfaces())
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func reloadCount(t *testing.T, status string) float64 {
	t.Helper()
	mfs, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "apiserver_wasm_config_controller_automatic_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == "admission" && labels["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestReloadModuleFile: replacing the module file changes the decision
// without a new plugin; the old handle is freed.
func TestReloadModuleFile(t *testing.T) {
	p, dir := newReloading(t, "magic-validator", 50*time.Millisecond)
	if err := validateConfigMap(p); err != nil {
		t.Fatalf("magic-validator must admit a plain ConfigMap: %v", err)
	}
	old := p.gens.Current()
	copyFile(t, fixtures.Path(t, "settings-admitter"), filepath.Join(dir, "policy.wasm"))
	waitUntil(t, 10*time.Second, "the replaced module decides", func() bool {
		err := validateConfigMap(p)
		return err != nil && strings.Contains(err.Error(), "denied by the reloaded policy")
	})
	waitUntil(t, 5*time.Second, "the old generation freed", func() bool {
		select {
		case <-old.Freed():
			return true
		default:
			return false
		}
	})
	// The matching data came with the handle: a configuration that matches
	// only UPDATE no longer handles CREATE.
	writeFile(t, filepath.Join(dir, "admission.yaml"), []byte(strings.Replace(reloadAdmissionConfig, `["CREATE"]`, `["UPDATE"]`, 1)))
	waitUntil(t, 10*time.Second, "the new rules apply", func() bool {
		return !p.Handles(admission.Create) && p.Handles(admission.Update)
	})
}

// TestReloadBadConfiguration (reliability row 20): a broken configuration
// written over a good one leaves the old one serving, is counted, and a fix
// is then picked up.
func TestReloadBadConfiguration(t *testing.T) {
	p, dir := newReloading(t, "settings-admitter", time.Hour) // polled by hand
	cfg := filepath.Join(dir, "admission.yaml")
	cases := []struct {
		name   string
		config string
		want   []string // in the load error: file, module, field
	}{
		{"bad field", strings.Replace(reloadAdmissionConfig, "      rules:", "      failurePolicy: Sometimes\n      rules:", 1), []string{`"policy"`, "failurePolicy"}},
		{"missing module", strings.Replace(reloadAdmissionConfig, "policy.wasm", "nowhere.wasm", 1), []string{`"policy"`, "nowhere.wasm"}},
		{"not YAML", "plugins: [", []string{"admission"}},
		{"bad validationActions", strings.Replace(reloadAdmissionConfig, "      rules:", "      validationActions: [Deny, Maybe]\n      rules:", 1), []string{`"policy"`, "validationActions"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := reloadCount(t, "failure")
			writeFile(t, cfg, []byte(tc.config))
			swapped, err := p.watcher.Poll()
			if swapped || err == nil {
				t.Fatalf("Poll = %v, %v; want a failed reload", swapped, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("reload error does not name %s: %v", w, err)
				}
			}
			if got := reloadCount(t, "failure"); got != before+1 {
				t.Errorf("failed reloads %g -> %g, want +1", before, got)
			}
			if err := validateConfigMap(p); err == nil || !strings.Contains(err.Error(), "denied by the reloaded policy") {
				t.Fatalf("the old configuration must keep serving: %v", err)
			}
		})
	}
	before := reloadCount(t, "success")
	writeFile(t, cfg, []byte(strings.Replace(reloadAdmissionConfig, `"allowed": false`, `"allowed": true`, 1)))
	if swapped, err := p.watcher.Poll(); !swapped || err != nil {
		t.Fatalf("Poll after the fix = %v, %v", swapped, err)
	}
	if err := validateConfigMap(p); err != nil {
		t.Fatalf("the fixed configuration must admit: %v", err)
	}
	if got := reloadCount(t, "success"); got != before+1 {
		t.Errorf("successful reloads %g -> %g, want +1", before, got)
	}
}

// TestReloadUnderLoad (reliability row 19): requests in a loop while the
// module file is replaced back and forth; every request gets one of the two
// decisions, none fails because of a reload, and both decisions are seen.
func TestReloadUnderLoad(t *testing.T) {
	p, dir := newReloading(t, "magic-validator", 20*time.Millisecond)
	var admitted, denied, other atomic.Int64
	var firstOther atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch err := validateConfigMap(p); {
				case err == nil:
					admitted.Add(1)
				case strings.Contains(err.Error(), "denied by the reloaded policy"):
					denied.Add(1)
				default:
					other.Add(1)
					firstOther.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	successes := reloadCount(t, "success")
	modules := []string{"settings-admitter", "magic-validator"}
	const swaps = 6
	for i := 0; i < swaps; i++ {
		copyFile(t, fixtures.Path(t, modules[i%2]), filepath.Join(dir, "policy.wasm"))
		want := successes + float64(i+1)
		waitUntil(t, 10*time.Second, fmt.Sprintf("reload %d", i+1), func() bool { return reloadCount(t, "success") >= want })
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if n := other.Load(); n > 0 {
		t.Fatalf("%d requests failed during reloads, first: %v", n, firstOther.Load())
	}
	if admitted.Load() == 0 || denied.Load() == 0 {
		t.Fatalf("admitted %d, denied %d: want both decisions seen", admitted.Load(), denied.Load())
	}
	t.Logf("%d admitted, %d denied across %d reloads", admitted.Load(), denied.Load(), swaps)
}
