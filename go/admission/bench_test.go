package admission

import (
	"context"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// BenchmarkNoMatchFake measures the Go side of a request no module matches
// (no library involved): matching only, nothing serialized.
func BenchmarkNoMatchFake(b *testing.B) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, []string{"v1"}, []string{"configmaps"}, "")}
	fake := &fakeAdmitter{modules: []ModuleConfig{{Name: "m0", Mutating: true, Rules: r}, {Name: "m1", Rules: r}}}
	p := newTestPlugin(b, fake)
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
	if len(fake.callsCopy()) != 0 {
		b.Fatal("no-match request crossed into the library")
	}
}

// BenchmarkAdmitMutatingFake measures the Go side of one mutating decision
// (matching, request encoding, result decoding, applying a one-op patch,
// annotations) with a fake library that answers at once.
func BenchmarkAdmitMutatingFake(b *testing.B) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, []string{"v1"}, []string{"configmaps"}, "")}
	out := []byte(`{"allowed":true,"patch":[{"op":"add","path":"/data/magic-value","value":"foobar"}],"warnings":[],"auditAnnotations":[],"outcomes":[{"module":"m0","outcome":"mutated","durationNanos":1}],"logs":[]}`)
	fake := &rawAdmitter{fakeAdmitter: fakeAdmitter{modules: []ModuleConfig{{Name: "m0", Mutating: true, Rules: r}}}, out: out}
	p, err := newWithAdmitter(fake)
	if err != nil {
		b.Fatal(err)
	}
	o := objectInterfaces()
	ctx := context.Background()
	u := &user.DefaultInfo{Name: "magic-user", Groups: []string{"magic-group"}}
	b.ReportAllocs()
	for b.Loop() {
		a := admission.NewAttributesRecord(configMap("default", "magic", nil, map[string]string{"a": "b"}), nil, configMapGVK, "default", "magic", configMapGVR, "", admission.Create, &metav1.CreateOptions{}, false, u)
		if err := p.Admit(ctx, a, o); err != nil {
			b.Fatal(err)
		}
	}
}

// rawAdmitter answers every call with fixed bytes, without decoding the
// request (the library's side of the cost is left out entirely).
type rawAdmitter struct {
	fakeAdmitter
	out []byte
}

func (f *rawAdmitter) Admit(_ binding.Phase, _ []uint32, _ []byte, _ time.Duration, decode binding.DecodeFunc) error {
	return decode(f.out)
}

// BenchmarkNoMatchDeepContext: BenchmarkNoMatchFake with a request context
// as deep as kube-apiserver's (30 values), with the reporter lookup skipped
// (no WithReporter was ever called, as in the API server) and done (the
// behaviour before that shortcut, and the CLI's).
func BenchmarkNoMatchDeepContext(b *testing.B) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, []string{"v1"}, []string{"configmaps"}, "")}
	fake := &fakeAdmitter{modules: []ModuleConfig{{Name: "m0", Mutating: true, Rules: r}, {Name: "m1", Rules: r}}}
	p := newTestPlugin(b, fake)
	o := objectInterfaces()
	type key int
	ctx := context.Background()
	for i := range 30 {
		ctx = context.WithValue(ctx, key(i), i)
	}
	secret := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "s"}}
	a := admission.NewAttributesRecord(secret, nil, schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, "default", "s",
		schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "", admission.Create, &metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "magic-user", Groups: []string{"magic-group"}})
	saved := reportersUsed.Load()
	defer reportersUsed.Store(saved)
	for _, lookup := range []bool{false, true} {
		name := "skipped"
		if lookup {
			name = "lookup"
		}
		b.Run(name, func(b *testing.B) {
			reportersUsed.Store(lookup)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Admit(ctx, a, o); err != nil {
					b.Fatal(err)
				}
				if err := p.Validate(ctx, a, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
