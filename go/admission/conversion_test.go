package admission

import (
	"context"
	"encoding/json"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// internalConfigMap plays the internal version of ConfigMap, as the API
// server holds built-in objects: the plugin must convert it to v1 for the
// module, apply the patch on v1, default, and convert back.
type internalConfigMap struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	Contents map[string]string
}

func (in *internalConfigMap) DeepCopyObject() runtime.Object {
	out := &internalConfigMap{TypeMeta: in.TypeMeta}
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	if in.Contents != nil {
		out.Contents = map[string]string{}
		for k, v := range in.Contents {
			out.Contents[k] = v
		}
	}
	return out
}

func conversionScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	s.AddKnownTypeWithName(schema.GroupVersion{Version: runtime.APIVersionInternal}.WithKind("ConfigMap"), &internalConfigMap{})
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddConversionFunc((*corev1.ConfigMap)(nil), (*internalConfigMap)(nil), func(a, b interface{}, _ conversion.Scope) error {
		in, out := a.(*corev1.ConfigMap), b.(*internalConfigMap)
		out.ObjectMeta = *in.ObjectMeta.DeepCopy()
		out.Contents = in.Data
		return nil
	}))
	must(s.AddConversionFunc((*internalConfigMap)(nil), (*corev1.ConfigMap)(nil), func(a, b interface{}, _ conversion.Scope) error {
		in, out := a.(*internalConfigMap), b.(*corev1.ConfigMap)
		out.ObjectMeta = *in.ObjectMeta.DeepCopy()
		out.Data = in.Contents
		return nil
	}))
	s.AddTypeDefaultingFunc(&corev1.ConfigMap{}, func(obj interface{}) {
		cm := obj.(*corev1.ConfigMap)
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations["defaulted"] = "true"
	})
	return s
}

// TestMutationSurvivesConversion: an internal object is sent as v1, the
// patch is applied to v1, defaulted, and converted back into the internal
// object the API server holds.
func TestMutationSurvivesConversion(t *testing.T) {
	s := conversionScheme(t)
	o := admission.NewObjectInterfacesFromScheme(s)
	var sent map[string]interface{}
	fake := &fakeAdmitter{
		modules: []ModuleConfig{{Name: "m0", Mutating: true, Rules: []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}}},
		respond: func(c fakeCall) (*Result, error) {
			if err := json.Unmarshal(c.request.Object.Raw, &sent); err != nil {
				return nil, err
			}
			return &Result{Allowed: true, Patch: json.RawMessage(`[{"op":"add","path":"/data/magic-value","value":"foobar"}]`),
				Outcomes: []binding.Outcome{{Module: "m0", Outcome: "mutated"}}}, nil
		},
	}
	p := newTestPlugin(t, fake)
	obj := &internalConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "c"}, Contents: map[string]string{"a": "b"}}
	a := admission.NewAttributesRecord(obj, nil, configMapGVK, "default", "c", configMapGVR, "", admission.Create, &metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "alice"})
	if err := p.Admit(context.Background(), a, o); err != nil {
		t.Fatalf("Admit: %v", err)
	}
	if sent["apiVersion"] != "v1" || sent["kind"] != "ConfigMap" || sent["data"].(map[string]interface{})["a"] != "b" {
		t.Fatalf("module did not get the v1 object: %v", sent)
	}
	got, ok := a.GetObject().(*internalConfigMap)
	if !ok || got != obj {
		t.Fatalf("the attributes' object must stay the same internal object, got %T", a.GetObject())
	}
	if got.Contents["magic-value"] != "foobar" || got.Contents["a"] != "b" {
		t.Fatalf("patch lost in conversion: %+v", got.Contents)
	}
	if got.Annotations["defaulted"] != "true" {
		t.Fatalf("patched object not defaulted: %+v", got.Annotations)
	}
}
