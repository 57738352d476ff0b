//go:build cgo

package authenticator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

func writeConfig(t *testing.T, path, token, user string) {
	t.Helper()
	config := fmt.Sprintf("modules:\n- name: settings\n  module: %s\n  settings: {token: %q, user: %q}\n", fixtures.Path(t, "settings-authenticator"), token, user)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadFromFile: the authenticator built from a file picks up a new
// configuration (another token) without being rebuilt, and keeps the old one
// when the new one is broken.
func TestReloadFromFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "authentication.yaml")
	writeConfig(t, cfg, "token-one", "alice")
	t.Setenv("KUBEWASM_CONFIG_RELOAD_INTERVAL", "50ms")
	a, err := NewAuthenticatorFromFile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	user := func(token string) string {
		resp, ok, err := a.AuthenticateToken(context.Background(), token)
		if err != nil || !ok {
			return ""
		}
		return resp.User.GetName()
	}
	if got := user("token-one"); got != "alice" {
		t.Fatalf("first token: user %q", got)
	}
	writeConfig(t, cfg, "token-two", "bob")
	deadline := time.Now().Add(10 * time.Second)
	for user("token-two") != "bob" {
		if time.Now().After(deadline) {
			t.Fatal("the new configuration was not picked up within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := user("token-one"); got != "" {
		t.Fatalf("the old token still authenticates as %q", got)
	}
	// Broken: the old configuration keeps serving, and the error names the
	// module and the field.
	a.watcher.Stop()
	if err := os.WriteFile(cfg, []byte("modules:\n- name: settings\n  module: "+fixtures.Path(t, "settings-authenticator")+"\n  timeout: forever\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if swapped, err := a.watcher.Poll(); swapped || err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("Poll of a broken configuration = %v, %v; want an error naming the field", swapped, err)
	}
	if got := user("token-two"); got != "bob" {
		t.Fatalf("after a failed reload the old configuration must serve, got %q", got)
	}
}
