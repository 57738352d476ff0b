//go:build cgo

package binding

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

// TestCompileAndInitLogs compiles a fixture, checks that Init reports the
// .cwasm as used, and that a foreign one is reported (and logged with klog)
// as ignored.
func TestCompileAndInitLogs(t *testing.T) {
	dir := t.TempDir()
	var wasm [2]string
	for i, name := range []string{"magic-authenticator", "magic-authorizer"} {
		data, err := os.ReadFile(fixtures.Path(t, name))
		if err != nil {
			t.Fatal(err)
		}
		wasm[i] = filepath.Join(dir, name+".wasm")
		if err := os.WriteFile(wasm[i], data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config := []byte("modules:\n- name: authn\n  module: magic-authenticator.wasm\n")
	cwasm := filepath.Join(dir, "magic-authenticator.cwasm")
	if err := Compile(wasm[0], ""); err != nil {
		t.Fatal(err)
	}
	h, err := Init(KindAuthentication, config, dir)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := h.InitLogs()
	h.Close()
	if err != nil || len(logs) != 1 || logs[0].Level != "info" || logs[0].Module != "authn" ||
		!strings.Contains(logs[0].Message, "loaded precompiled "+cwasm) {
		t.Fatalf("init logs with a valid .cwasm: %+v, %v", logs, err)
	}

	// The .cwasm of another module, where this one's belongs.
	if err := Compile(wasm[1], cwasm); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	klog.SetOutput(&buf)
	defer klog.SetOutput(os.Stderr)
	defer func() { _ = fs.Set("logtostderr", "true") }()
	h, err = Init(KindAuthentication, config, dir)
	if err != nil {
		t.Fatal(err)
	}
	logs, err = h.InitLogs()
	h.Close()
	klog.Flush()
	if err != nil || len(logs) != 1 || logs[0].Level != "warning" ||
		!strings.Contains(logs[0].Message, "ignoring precompiled "+cwasm+": it was compiled from another module") {
		t.Fatalf("init logs with a foreign .cwasm: %+v, %v", logs, err)
	}
	if !strings.Contains(buf.String(), `kubewasm authentication module "authn": ignoring precompiled `+cwasm) {
		t.Fatalf("klog output lacks the warning:\n%s", buf.String())
	}

	var e *Error
	if err := Compile(filepath.Join(dir, "missing.wasm"), ""); !errors.As(err, &e) || e.Code != CodeLoad {
		t.Fatalf("compiling a missing module: %v", err)
	}
}
