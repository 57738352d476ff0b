//go:build cgo

package admission

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// userExample is the AdmissionConfiguration of the Kubewarden issue, verbatim but for the
// module path (the Rust tests also run it with the fixture at /etc/kubernetes/wasm/).
const userExample = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: WASM
  configuration:
    modules:
    - name: safe-annotations
      type: kubewarden
      module: fixture:safe-annotations
      settings:
        mandatory_annotations:
        - puzzle.ch/owner
      rules:
      - operations: ["CREATE", "UPDATE"]
        apiGroups: [""]
        apiVersions: ["v1"]
        resources: ["configmaps", "namespaces"]
`

// TestUserExampleKubewarden: ConfigMaps and Namespaces without puzzle.ch/owner are rejected
// with the policy's message, with it they are admitted, and a Secret is not touched.
func TestUserExampleKubewarden(t *testing.T) {
	p := newFromFixtures(t, userExample)
	owned := map[string]string{"puzzle.ch/owner": "team-a"}
	namespaceGVK := schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	namespaceGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	secretGVK := schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	secretGVR := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	withAnnotations := func(cm *corev1.ConfigMap, a map[string]string) *corev1.ConfigMap {
		cm.Annotations = a
		return cm
	}
	namespace := func(a map[string]string) *corev1.Namespace {
		return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "team-a", Annotations: a}}
	}
	secret := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "s"}}
	cases := []struct {
		name     string
		obj      runtime.Object
		gvk      schema.GroupVersionKind
		gvr      schema.GroupVersionResource
		ns       string
		rejected bool
	}{
		{"configmap without owner", configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", true},
		{"configmap with owner", withAnnotations(configMap("default", "c", nil, nil), owned), configMapGVK, configMapGVR, "default", false},
		{"namespace without owner", namespace(nil), namespaceGVK, namespaceGVR, "", true},
		{"namespace with owner", namespace(owned), namespaceGVK, namespaceGVR, "", false},
		{"secret is not touched", secret, secretGVK, secretGVR, "default", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.obj.(metav1.Object).GetName()
			err := p.Validate(context.Background(), createAttrs(tc.obj, tc.gvk, tc.gvr, tc.ns, name, "", false), objectInterfaces())
			if !tc.rejected {
				if err != nil {
					t.Fatalf("want admitted, got %v", err)
				}
				return
			}
			var se *apierrors.StatusError
			if !errors.As(err, &se) || se.ErrStatus.Code != 403 ||
				!strings.Contains(se.ErrStatus.Message, `admission module "safe-annotations" (WASM) denied the request: The following mandatory annotations are missing: puzzle.ch/owner`) {
				t.Fatalf("want the policy's rejection, got %v", err)
			}
		})
	}
}
