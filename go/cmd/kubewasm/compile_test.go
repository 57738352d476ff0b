//go:build cgo

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

// copyFixture copies a fixture module into dir and returns its new path.
func copyFixture(t *testing.T, name, dir string) string {
	t.Helper()
	data, err := os.ReadFile(fixtures.Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompileCLI(t *testing.T) {
	dir := t.TempDir()
	wasm := copyFixture(t, "magic-authenticator", dir)
	config := filepath.Join(dir, "authn.yaml")
	if err := os.WriteFile(config, []byte("modules:\n- module: magic-authenticator.wasm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cwasm := filepath.Join(dir, "magic-authenticator.cwasm")

	code, out, errOut := runCLI(t, "", "check", "--kind", "authentication", config)
	if code != 0 || strings.Contains(out, "precompiled") {
		t.Fatalf("check without .cwasm: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "", "compile", wasm)
	if code != 0 || !strings.Contains(out, wasm+" -> "+cwasm) {
		t.Fatalf("compile: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(cwasm); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "", "check", "--kind", "authentication", config)
	want := `info: module "magic-authenticator.wasm": loaded precompiled ` + cwasm
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("check with .cwasm: exit %d, want %q\n%s%s", code, want, out, errOut)
	}
	// Same decisions from the precompiled module.
	code, out, errOut = runCLI(t, `{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"magic-token"}}`,
		"authenticate", "--config", config)
	if code != 0 || !strings.Contains(out, `"authenticated": true`) {
		t.Fatalf("authenticate with .cwasm: exit %d\n%s%s", code, out, errOut)
	}

	// A damaged .cwasm is ignored with a warning naming it; the module is compiled.
	if err := os.WriteFile(cwasm, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "", "check", "--kind", "authentication", config)
	want = `warning: module "magic-authenticator.wasm": ignoring precompiled ` + cwasm + ": it is 7 bytes, too short"
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("check with a damaged .cwasm: exit %d, want %q\n%s%s", code, want, out, errOut)
	}

	// -o DIR writes elsewhere.
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "", "compile", "-o", outDir, wasm)
	if _, err := os.Stat(filepath.Join(outDir, "magic-authenticator.cwasm")); code != 0 || err != nil {
		t.Fatalf("compile -o: exit %d (%v)\n%s%s", code, err, out, errOut)
	}

	// Errors: a missing module fails the command, the others are still compiled.
	code, out, errOut = runCLI(t, "", "compile", filepath.Join(dir, "missing.wasm"), wasm)
	if code != 1 || !strings.Contains(errOut, "missing.wasm") || !strings.Contains(out, wasm+" -> ") {
		t.Fatalf("compile with a missing module: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ = runCLI(t, "", "compile"); code != 2 {
		t.Fatalf("compile without modules: exit %d, want 2", code)
	}
	if code, _, _ = runCLI(t, "", "compile", "-o", filepath.Join(dir, "nowhere"), wasm); code != 2 {
		t.Fatalf("compile -o to a missing directory: exit %d, want 2", code)
	}
}

func TestCwasmPath(t *testing.T) {
	for _, tc := range []struct{ wasm, dir, want string }{
		{"a/b.wasm", "", "a/b.cwasm"},
		{"a/b", "", "a/b.cwasm"},
		{"a/b.v1.wasm", "out", "out/b.v1.cwasm"},
	} {
		if got := cwasmPath(tc.wasm, tc.dir); got != tc.want {
			t.Errorf("cwasmPath(%q, %q) = %q, want %q", tc.wasm, tc.dir, got, tc.want)
		}
	}
}
