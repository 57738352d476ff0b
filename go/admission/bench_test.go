package admission

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
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
