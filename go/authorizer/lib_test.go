//go:build cgo

package authorizer

import (
	"context"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/fixtures"
	"github.com/kubewasm/kubewasm/go/internal/metrics"
)

func newFromFixtures(t testing.TB, config string) *Authorizer {
	t.Helper()
	a, err := New(fixtures.Config(t, config), "")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

const magicConfig = `modules:
- name: magic-authorizer
  module: fixture:magic-authorizer
`

var magicUser = &user.DefaultInfo{Name: "magic-user", UID: "0", Groups: []string{"magic-group"}}

// TestMagicAuthorizer is the magic scenario through the real library.
func TestMagicAuthorizer(t *testing.T) {
	a := newFromFixtures(t, magicConfig)
	cases := []struct {
		name string
		attr authorizer.AttributesRecord
		want authorizer.Decision
	}{
		{"magic group on configmaps", authorizer.AttributesRecord{User: magicUser, Verb: "create", Namespace: "default", APIVersion: "v1", Resource: "configmaps", ResourceRequest: true}, authorizer.DecisionAllow},
		{"magic group on pods", authorizer.AttributesRecord{User: magicUser, Verb: "get", Namespace: "default", APIVersion: "v1", Resource: "pods", ResourceRequest: true}, authorizer.DecisionNoOpinion},
		{"other user on configmaps", authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "bob"}, Verb: "get", APIVersion: "v1", Resource: "configmaps", ResourceRequest: true}, authorizer.DecisionNoOpinion},
		{"non-resource", authorizer.AttributesRecord{User: magicUser, Verb: "get", Path: "/healthz"}, authorizer.DecisionNoOpinion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _, err := a.Authorize(context.Background(), tc.attr)
			if d != tc.want || err != nil {
				t.Fatalf("got %v, %v; want %v without error", d, err, tc.want)
			}
		})
	}
}

// TestFailingModules: failing modules never allow; with the default
// failurePolicy (NoOpinion) the failure is reported as an error.
func TestFailingModules(t *testing.T) {
	for _, hostile := range []string{"hostile-trap", "hostile-garbage", "hostile-loop"} {
		t.Run(hostile, func(t *testing.T) {
			a := newFromFixtures(t, "modules:\n- name: "+hostile+"\n  timeout: 500ms\n  module: fixture:"+hostile+"\n")
			d, _, err := a.Authorize(context.Background(), authorizer.AttributesRecord{User: magicUser, Verb: "get", APIVersion: "v1", Resource: "configmaps", ResourceRequest: true})
			if d == authorizer.DecisionAllow {
				t.Fatalf("a failing module allowed")
			}
			if d != authorizer.DecisionNoOpinion || err == nil {
				t.Fatalf("got %v, %v; want NoOpinion with an error", d, err)
			}
		})
	}
}

func BenchmarkAuthorize(b *testing.B) {
	a := newFromFixtures(b, magicConfig)
	attr := authorizer.AttributesRecord{User: magicUser, Verb: "create", Namespace: "default", APIVersion: "v1", Resource: "configmaps", ResourceRequest: true}
	ctx := context.Background()
	before := totals(b, binding.KindAuthorization)
	b.ReportAllocs()
	for b.Loop() {
		if d, _, err := a.Authorize(ctx, attr); d != authorizer.DecisionAllow || err != nil {
			b.Fatalf("%v %v", d, err)
		}
	}
	reportSplit(b, binding.KindAuthorization, before)
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
