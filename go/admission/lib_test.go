//go:build cgo

package admission

import (
	"context"
	"errors"
	"github.com/kubewasm/kubewasm/go/internal/record"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/warning"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/fixtures"
	"github.com/kubewasm/kubewasm/go/internal/metrics"
)

const magicConfig = `modules:
- name: magic-mutator
  module: fixture:magic-mutator
  mutating: true
  rules:
  - operations: ["CREATE", "UPDATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
- name: magic-validator
  module: fixture:magic-validator
  rules:
  - operations: ["CREATE", "UPDATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
`

func newFromFixtures(t testing.TB, config string) *Plugin {
	t.Helper()
	p, err := New(fixtures.Config(t, config), "")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	p.SetNamespaceLister(staticNamespaces{"default": {"kubernetes.io/metadata.name": "default"}})
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMagicAdmission is the magic scenario through the real library: the
// mutator adds data.magic-value, the validator rejects not-allowed-value.
func TestMagicAdmission(t *testing.T) {
	p := newFromFixtures(t, magicConfig)
	if got := p.Modules(); len(got) != 2 || got[0].Name != "magic-mutator" || !got[0].Mutating || got[1].Mutating {
		t.Fatalf("modules: %+v", got)
	}
	cases := []struct {
		name       string
		data       map[string]string
		wantReject bool
	}{
		{"allowed and mutated", map[string]string{"a": "b"}, false},
		{"rejected", map[string]string{"not-allowed-value": "x"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := createAttrs(configMap("default", "magic", nil, tc.data), configMapGVK, configMapGVR, "default", "magic", "", false)
			if err := p.Admit(context.Background(), a, objectInterfaces()); err != nil {
				t.Fatalf("Admit: %v", err)
			}
			cm := a.GetObject().(*corev1.ConfigMap)
			if cm.Data["magic-value"] != "foobar" {
				t.Fatalf("not mutated: %v", cm.Data)
			}
			for k, v := range tc.data {
				if cm.Data[k] != v {
					t.Fatalf("mutation lost %s: %v", k, cm.Data)
				}
			}
			err := p.Validate(context.Background(), a, objectInterfaces())
			if !tc.wantReject {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var se *apierrors.StatusError
			if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusForbidden ||
				se.ErrStatus.Message != `admission module "magic-validator" (WASM) denied the request: value 'not-allowed-value' not allowed in configmap` {
				t.Fatalf("want the validator's 403, got %v", err)
			}
		})
	}
}

// TestFailurePolicy: a module that fails costs one failed call, handled by
// its failurePolicy, in both phases.
func TestFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		hostile  string
		mutating bool
		policy   string
	}{
		{"hostile-trap", false, "Fail"}, {"hostile-trap", false, "Ignore"},
		{"hostile-garbage", true, "Fail"}, {"hostile-garbage", true, "Ignore"},
		{"hostile-loop", false, "Fail"}, {"hostile-loop", true, "Ignore"},
	} {
		name := tc.hostile + "/" + tc.policy
		if tc.mutating {
			name += "/mutating"
		}
		t.Run(name, func(t *testing.T) {
			cfg := "modules:\n- name: " + tc.hostile + "\n  module: fixture:" + tc.hostile + "\n  timeout: 500ms\n  failurePolicy: " + tc.policy +
				"\n  mutating: " + map[bool]string{true: "true", false: "false"}[tc.mutating] +
				"\n  rules:\n  - operations: [\"*\"]\n    apiGroups: [\"\"]\n    apiVersions: [\"*\"]\n    resources: [\"configmaps\"]\n"
			p := newFromFixtures(t, cfg)
			a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
			var err error
			if tc.mutating {
				err = p.Admit(context.Background(), a, objectInterfaces())
			} else {
				err = p.Validate(context.Background(), a, objectInterfaces())
			}
			if tc.policy == "Ignore" {
				if err != nil {
					t.Fatalf("failurePolicy Ignore: want allowed, got %v", err)
				}
				found := false
				for k, v := range annotations(a) {
					found = found || (strings.HasPrefix(k, "failed-open.") && v == tc.hostile)
				}
				if !found {
					t.Fatalf("no failed-open annotation: %v", annotations(a))
				}
				return
			}
			if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `kubewasm module "`+tc.hostile+`"`) {
				t.Fatalf("failurePolicy Fail: want an internal error naming the module, got %v", err)
			}
		})
	}
}

func benchAttrs() admission.Attributes {
	return admission.NewAttributesRecord(configMap("default", "magic", nil, map[string]string{"a": "b"}), nil, configMapGVK, "default", "magic", configMapGVR, "", admission.Create, &metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "magic-user", Groups: []string{"magic-group"}})
}

// BenchmarkAdmitMutating: one mutating decision (magic-mutator) including
// matching, serialization, the cgo call and applying the patch.
func BenchmarkAdmitMutating(b *testing.B) {
	p := newFromFixtures(b, magicConfig)
	o := objectInterfaces()
	ctx := context.Background()
	before := totals(b, binding.KindAdmission)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Admit(ctx, createAttrs(configMap("default", "magic", nil, map[string]string{"a": "b"}), configMapGVK, configMapGVR, "default", "magic", "", false), o); err != nil {
			b.Fatal(err)
		}
	}
	reportSplit(b, binding.KindAdmission, before)
}

// BenchmarkValidate: one validating decision (magic-validator).
func BenchmarkValidate(b *testing.B) {
	p := newFromFixtures(b, magicConfig)
	o := objectInterfaces()
	ctx := context.Background()
	a := benchAttrs()
	before := totals(b, binding.KindAdmission)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Validate(ctx, a, o); err != nil {
			b.Fatal(err)
		}
	}
	reportSplit(b, binding.KindAdmission, before)
}

// BenchmarkNoMatch: a Secret, which no module matches, through both phases:
// the cost the plugin adds to every request it does not care about.
func BenchmarkNoMatch(b *testing.B) {
	p := newFromFixtures(b, magicConfig)
	o := objectInterfaces()
	ctx := context.Background()
	secret := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "s"}}
	a := admission.NewAttributesRecord(secret, nil, schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, "default", "s",
		schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "", admission.Create, &metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "magic-user", Groups: []string{"magic-group"}})
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Admit(ctx, a, o); err != nil {
			b.Fatal(err)
		}
		if err := p.Validate(ctx, a, o); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPassThrough: warnings, audit annotations (prefixed with the module
// name) and the module's status code, through the real library, plus a
// JSONPatch-answering module configured by settings.
func TestPassThrough(t *testing.T) {
	const cfg = `modules:
- name: labeler
  module: fixture:json-patch-mutator
  mutating: true
  settings:
    labels: {"example.com/team": "blue"}
  rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
- name: talker
  module: fixture:settings-admitter
  settings:
    allowed: true
    warnings: ["mind the gap"]
    auditAnnotations: {"checked": "yes"}
  rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
- name: refuser
  module: fixture:settings-admitter
  settings:
    allowed: false
    message: "teapot"
    code: 418
  rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
    scope: Cluster
`
	p := newFromFixtures(t, cfg)
	a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
	rec := &record.Warnings{}
	ctx := warning.WithWarningRecorder(context.Background(), rec)
	if err := p.Admit(ctx, a, objectInterfaces()); err != nil {
		t.Fatalf("Admit: %v", err)
	}
	if got := a.GetObject().(*corev1.ConfigMap).Labels["example.com/team"]; got != "blue" {
		t.Fatalf("label not added: %v", a.GetObject().(*corev1.ConfigMap).Labels)
	}
	// The refuser is cluster-scoped only: a namespaced ConfigMap passes.
	if err := p.Validate(ctx, a, objectInterfaces()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if w := rec.List(); len(w) != 1 || w[0] != "mind the gap" {
		t.Fatalf("warnings: %v", w)
	}
	if v := annotations(a)["talker/checked"]; v != "yes" {
		t.Fatalf("audit annotations: %v", annotations(a))
	}

	// A cluster-scoped request reaches the refuser: its code is kept.
	clusterCM := createAttrs(configMap("", "c", nil, nil), configMapGVK, configMapGVR, "", "c", "", false)
	err := p.Validate(ctx, clusterCM, objectInterfaces())
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code != 418 || !strings.Contains(se.ErrStatus.Message, `admission module "refuser" (WASM) denied the request: teapot`) {
		t.Fatalf("want the refuser's 418, got %v", err)
	}
}

// TestKubewardenPolicy: a Kubewarden policy (type kubewarden) matched and
// called by the plugin like any module; its rejection names the module.
func TestKubewardenPolicy(t *testing.T) {
	const cfg = `modules:
- name: safe-annotations
  module: fixture:safe-annotations
  type: kubewarden
  settings:
    denied_annotations: ["forbidden"]
  rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["configmaps"]
`
	p := newFromFixtures(t, cfg)
	ok := configMap("default", "ok", nil, nil)
	if err := p.Validate(context.Background(), createAttrs(ok, configMapGVK, configMapGVR, "default", "ok", "", false), objectInterfaces()); err != nil {
		t.Fatalf("allowed object: %v", err)
	}
	bad := configMap("default", "bad", nil, nil)
	bad.Annotations = map[string]string{"forbidden": "1"}
	err := p.Validate(context.Background(), createAttrs(bad, configMapGVK, configMapGVR, "default", "bad", "", false), objectInterfaces())
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code < 400 ||
		!strings.Contains(se.ErrStatus.Message, `admission module "safe-annotations" (WASM) denied the request: The following annotations are not allowed: forbidden`) {
		t.Fatalf("want the policy's rejection, got %v", err)
	}
}

// moduleTime returns a context that adds the modules' own time (the
// library's durationNanos: instantiation and the call) to *total.
func moduleTime(total *time.Duration) context.Context {
	return WithReporter(context.Background(), func(r PhaseReport) {
		if r.Result == nil {
			return
		}
		for _, oc := range r.Result.Outcomes {
			*total += time.Duration(oc.DurationNanos)
		}
	})
}

// BenchmarkValidateCaches: BenchmarkValidate with the modules' own time
// reported (module-ns/op), hot (back to back, as the library bench runs) and
// cold (8 MiB written between two calls, more than this machine's L2 of 2 MiB
// per core: roughly what serving a request between two module calls does to
// the caches in kube-apiserver). The difference is the price of cold caches
// inside the module call, which no Go-side change removes.
func BenchmarkValidateCaches(b *testing.B) {
	p := newFromFixtures(b, magicConfig)
	o := objectInterfaces()
	a := benchAttrs()
	scratch := make([]byte, 8<<20)
	for _, cold := range []bool{false, true} {
		name := "hot"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			ctx := moduleTime(&total)
			b.ReportAllocs()
			for b.Loop() {
				if cold {
					b.StopTimer()
					for i := 0; i < len(scratch); i += 64 {
						scratch[i]++
					}
					b.StartTimer()
				}
				if err := p.Validate(ctx, a, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "module-ns/op")
		})
	}
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

// TestValidationActionsLibrary: validationActions through the real library,
// which passes the field through: Warn and Audit on the magic validator admit
// the ConfigMap it rejects, with the message as a warning or as the
// validation-failure audit annotation; the mutator's patch is applied either
// way; an invalid list fails the start naming the module and the field.
func TestValidationActionsLibrary(t *testing.T) {
	const msg = "value 'not-allowed-value' not allowed in configmap"
	for _, tc := range []struct {
		actions   string
		wantErr   bool
		wantWarn  []string
		wantAudit string
	}{
		{"[Deny]", true, nil, ""},
		{"[Warn]", false, []string{`Validation failed for admission module "magic-validator" (WASM): ` + msg}, ""},
		{"[Audit]", false, nil, `[{"message":"` + msg + `","module":"magic-validator","validationActions":["Audit"]}]`},
		{"[Audit, Deny]", true, nil, `[{"message":"` + msg + `","module":"magic-validator","validationActions":["Audit","Deny"]}]`},
	} {
		t.Run(tc.actions, func(t *testing.T) {
			p := newFromFixtures(t, magicConfig+"  validationActions: "+tc.actions+"\n")
			a := createAttrs(configMap("default", "magic", nil, map[string]string{"not-allowed-value": "x"}), configMapGVK, configMapGVR, "default", "magic", "", false)
			rec := &record.Warnings{}
			ctx := warning.WithWarningRecorder(context.Background(), rec)
			if err := p.Admit(ctx, a, objectInterfaces()); err != nil {
				t.Fatalf("Admit: %v", err)
			}
			if got := a.GetObject().(*corev1.ConfigMap).Data["magic-value"]; got != "foobar" {
				t.Fatalf("the mutator's patch was not applied: %v", a.GetObject())
			}
			err := p.Validate(ctx, a, objectInterfaces())
			var se *apierrors.StatusError
			if tc.wantErr != (err != nil) || tc.wantErr && (!errors.As(err, &se) || se.ErrStatus.Code != http.StatusForbidden) {
				t.Fatalf("Validate: %v, want rejected %v", err, tc.wantErr)
			}
			if got := rec.List(); len(got) != len(tc.wantWarn) || len(got) > 0 && got[0] != tc.wantWarn[0] {
				t.Fatalf("warnings %q, want %q", got, tc.wantWarn)
			}
			if got := annotations(a)[ValidationFailureAuditAnnotationKey]; got != tc.wantAudit {
				t.Fatalf("audit annotation %q, want %q", got, tc.wantAudit)
			}
		})
	}
	t.Run("invalid", func(t *testing.T) {
		_, err := New(fixtures.Config(t, magicConfig+"  validationActions: [Deny, Warn]\n"), "")
		if err == nil || !strings.Contains(err.Error(), `modules[1] "magic-validator": validationActions: Invalid value`) {
			t.Fatalf("want the module and field named, got %v", err)
		}
	})
}
