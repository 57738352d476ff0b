//go:build cgo

package authenticator

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/fixtures"
	"github.com/kubewasm/kubewasm/go/internal/metrics"
)

func newFromFixtures(t testing.TB, config string) *Authenticator {
	t.Helper()
	a, err := New(fixtures.Config(t, config), "", authenticator.Audiences{"api"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

const magicConfig = `modules:
- name: magic-authenticator
  module: fixture:magic-authenticator
`

// TestMagicAuthenticator is the magic scenario through the real library.
func TestMagicAuthenticator(t *testing.T) {
	a := newFromFixtures(t, magicConfig)
	cases := []struct {
		name   string
		token  string
		ctxAud authenticator.Audiences
		wantOK bool
		want   *user.DefaultInfo
	}{
		{"magic token", "magic-token", nil, true, &user.DefaultInfo{Name: "magic-user", UID: "0", Groups: []string{"magic-group"}}},
		{"magic token, API audience", "magic-token", authenticator.Audiences{"api"}, true, &user.DefaultInfo{Name: "magic-user", UID: "0", Groups: []string{"magic-group"}}},
		{"magic token, foreign audience", "magic-token", authenticator.Audiences{"elsewhere"}, false, nil},
		{"other token", "not-magic", nil, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctxAud != nil {
				ctx = authenticator.WithAudiences(ctx, tc.ctxAud)
			}
			resp, ok, err := a.AuthenticateToken(ctx, tc.token)
			if err != nil || ok != tc.wantOK {
				t.Fatalf("ok=%v err=%v, want ok=%v and no error", ok, err, tc.wantOK)
			}
			if !ok {
				return
			}
			u := resp.User.(*user.DefaultInfo)
			if u.Name != tc.want.Name || u.UID != tc.want.UID || strings.Join(u.Groups, ",") != strings.Join(tc.want.Groups, ",") {
				t.Fatalf("user %+v, want %+v", u, tc.want)
			}
		})
	}
}

// TestFailingModules: a module that traps, loops or answers garbage never
// authenticates, and the error does not contain the token.
func TestFailingModules(t *testing.T) {
	for _, hostile := range []string{"hostile-trap", "hostile-garbage", "hostile-loop", "hostile-exit"} {
		t.Run(hostile, func(t *testing.T) {
			a := newFromFixtures(t, "modules:\n- name: "+hostile+"\n  timeout: 500ms\n  module: fixture:"+hostile+"\n")
			const token = "very-secret-token-1234"
			resp, ok, err := a.AuthenticateToken(context.Background(), token)
			if ok || resp != nil {
				t.Fatalf("a failing module authenticated: %+v", resp)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Fatalf("error contains the token: %v", err)
			}
		})
	}
}

// TestContextDeadline: the request context's deadline bounds the call even
// when the module's own timeout is longer.
func TestContextDeadline(t *testing.T) {
	a := newFromFixtures(t, "modules:\n- name: loop\n  timeout: 30s\n  module: fixture:hostile-loop\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, ok, _ := a.AuthenticateToken(ctx, "t")
	if ok {
		t.Fatal("a looping module authenticated")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call took %v despite a 200ms deadline", d)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	a := newFromFixtures(b, magicConfig)
	ctx := context.Background()
	before := totals(b, binding.KindAuthentication)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := a.AuthenticateToken(ctx, "magic-token"); !ok || err != nil {
			b.Fatalf("ok=%v err=%v", ok, err)
		}
	}
	reportSplit(b, binding.KindAuthentication, before)
}

func BenchmarkAuthenticateParallel(b *testing.B) {
	a := newFromFixtures(b, magicConfig)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok, err := a.AuthenticateToken(ctx, "magic-token"); !ok || err != nil {
				b.Errorf("ok=%v err=%v", ok, err)
				return
			}
		}
	})
}

// reportSplit reports, next to ns/op, the library call as Go saw it
// (call-ns/op) and the modules' own time (module-ns/op), from the kubewasm
// metrics: ns/op minus call-ns/op is the Go side; call-ns/op minus
// module-ns/op the crossing, the library's JSON work and the scheduler.
func reportSplit(b *testing.B, kind binding.Kind, before metrics.Totals) {
	b.Helper()
	after, err := metrics.TotalsFor(kind)
	if err != nil {
		b.Fatal(err)
	}
	call, module := after.PerOp(before, b.N)
	b.ReportMetric(call, "call-ns/op")
	b.ReportMetric(module, "module-ns/op")
}

func totals(b *testing.B, kind binding.Kind) metrics.Totals {
	b.Helper()
	t, err := metrics.TotalsFor(kind)
	if err != nil {
		b.Fatal(err)
	}
	return t
}
