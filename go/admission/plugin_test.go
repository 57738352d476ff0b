package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kubewasm/kubewasm/go/internal/record"
	"net/http"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

var (
	configMapGVK = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	configMapGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	podGVK       = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	podGVR       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	nodeGVK      = schema.GroupVersionKind{Version: "v1", Kind: "Node"}
	nodeGVR      = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

func objectInterfaces() admission.ObjectInterfaces {
	return admission.NewObjectInterfacesFromScheme(scheme.Scheme)
}

func rule(ops []admissionregistrationv1.OperationType, groups, versions, resources []string, scope admissionregistrationv1.ScopeType) admissionregistrationv1.RuleWithOperations {
	r := admissionregistrationv1.RuleWithOperations{
		Operations: ops,
		Rule:       admissionregistrationv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources},
	}
	if scope != "" {
		r.Scope = &scope
	}
	return r
}

var (
	all    = []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}
	create = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	core   = []string{""}
	star   = []string{"*"}
)

func ptr[T any](v T) *T { return &v }

func configMap(ns, name string, lbls map[string]string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Data:       data,
	}
}

func createAttrs(obj runtime.Object, gvk schema.GroupVersionKind, gvr schema.GroupVersionResource, ns, name, sub string, dryRun bool) admission.Attributes {
	return record.NewAttributes(admission.NewAttributesRecord(obj, nil, gvk, ns, name, gvr, sub, admission.Create, &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}}, dryRun,
		&user.DefaultInfo{Name: "alice", UID: "1", Groups: []string{"devs"}, Extra: map[string][]string{"k": {"v"}}}))
}

func newTestPlugin(t testing.TB, fake *fakeAdmitter) *Plugin {
	t.Helper()
	p, err := newWithAdmitter(fake)
	if err != nil {
		t.Fatalf("newWithAdmitter: %v", err)
	}
	p.SetNamespaceLister(staticNamespaces{"default": {"kubernetes.io/metadata.name": "default"}, "prod": {"env": "prod"}})
	if err := p.ValidateInitialization(); err != nil {
		t.Fatalf("ValidateInitialization: %v", err)
	}
	return p
}

// staticNamespaces is a NamespaceLister over fixed labels.
type staticNamespaces map[string]map[string]string

func (s staticNamespaces) List(sel labels.Selector) ([]*corev1.Namespace, error) {
	var ret []*corev1.Namespace
	for n := range s {
		ns, _ := s.Get(n)
		if sel.Matches(labels.Set(ns.Labels)) {
			ret = append(ret, ns)
		}
	}
	return ret, nil
}

func (s staticNamespaces) Get(name string) (*corev1.Namespace, error) {
	l, ok := s[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, nil
}

var _ corelisters.NamespaceLister = staticNamespaces{}

func TestNilConfigReader(t *testing.T) {
	_, err := NewFromReader(nil, "")
	if err == nil || !strings.Contains(err.Error(), "needs a configuration") {
		t.Fatalf("want a clear error for a nil reader, got %v", err)
	}
}

func TestRegister(t *testing.T) {
	plugins := admission.NewPlugins()
	Register(plugins)
	if got := plugins.Registered(); !reflect.DeepEqual(got, []string{PluginName}) {
		t.Fatalf("registered plugins = %v, want [%s]", got, PluginName)
	}
}

// TestRuleMatching: which validating modules are called for which request.
func TestRuleMatching(t *testing.T) {
	cm := configMap("default", "c", nil, nil)
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p"}}
	node := &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	cases := []struct {
		name  string
		rules []admissionregistrationv1.RuleWithOperations
		attrs admission.Attributes
		want  bool
	}{
		{"exact resource", []admissionregistrationv1.RuleWithOperations{rule(create, core, []string{"v1"}, []string{"configmaps"}, "")}, createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false), true},
		{"other resource", []admissionregistrationv1.RuleWithOperations{rule(create, core, []string{"v1"}, []string{"secrets"}, "")}, createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false), false},
		{"wildcards", []admissionregistrationv1.RuleWithOperations{rule(all, star, star, star, "")}, createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false), true},
		{"other group", []admissionregistrationv1.RuleWithOperations{rule(all, []string{"apps"}, star, star, "")}, createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false), false},
		{"other operation", []admissionregistrationv1.RuleWithOperations{rule([]admissionregistrationv1.OperationType{admissionregistrationv1.Delete}, core, star, star, "")}, createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false), false},
		{"no rules", nil, createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false), false},
		{"resource rule does not match subresource", []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"pods"}, "")}, createAttrs(pod, podGVK, podGVR, "default", "p", "status", false), false},
		{"subresource rule", []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"pods/status"}, "")}, createAttrs(pod, podGVK, podGVR, "default", "p", "status", false), true},
		{"subresource rule does not match resource", []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"pods/status"}, "")}, createAttrs(pod, podGVK, podGVR, "default", "p", "", false), false},
		{"star slash subresource", []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"*/status"}, "")}, createAttrs(pod, podGVK, podGVR, "default", "p", "status", false), true},
		{"star slash star", []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"*/*"}, "")}, createAttrs(pod, podGVK, podGVR, "default", "p", "status", false), true},
		{"namespaced scope, namespaced object", []admissionregistrationv1.RuleWithOperations{rule(all, star, star, star, admissionregistrationv1.NamespacedScope)}, createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false), true},
		{"namespaced scope, cluster object", []admissionregistrationv1.RuleWithOperations{rule(all, star, star, star, admissionregistrationv1.NamespacedScope)}, createAttrs(node, nodeGVK, nodeGVR, "", "n", "", false), false},
		{"cluster scope, cluster object", []admissionregistrationv1.RuleWithOperations{rule(all, star, star, star, admissionregistrationv1.ClusterScope)}, createAttrs(node, nodeGVK, nodeGVR, "", "n", "", false), true},
		{"cluster scope, namespaced object", []admissionregistrationv1.RuleWithOperations{rule(all, star, star, star, admissionregistrationv1.ClusterScope)}, createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeAdmitter{modules: []ModuleConfig{{Name: "m0", Rules: tc.rules, SideEffects: ptr(admissionregistrationv1.SideEffectClassNone)}}}
			p := newTestPlugin(t, fake)
			if err := p.Validate(context.Background(), tc.attrs, objectInterfaces()); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := len(fake.callsCopy()) == 1; got != tc.want {
				t.Fatalf("called = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSelectorsAndConditions covers namespaceSelector, objectSelector and
// matchConditions.
func TestSelectorsAndConditions(t *testing.T) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}
	cases := []struct {
		name   string
		module ModuleConfig
		obj    *corev1.ConfigMap
		want   bool
		errSub string
	}{
		{"namespace selector match", ModuleConfig{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}, configMap("prod", "c", nil, nil), true, ""},
		{"namespace selector miss", ModuleConfig{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}, configMap("default", "c", nil, nil), false, ""},
		{"namespace selector on the name label", ModuleConfig{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "default"}}}, configMap("default", "c", nil, nil), true, ""},
		{"object selector match", ModuleConfig{ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}}, configMap("default", "c", map[string]string{"app": "x"}, nil), true, ""},
		{"object selector miss", ModuleConfig{ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}}, configMap("default", "c", nil, nil), false, ""},
		{"match condition true", ModuleConfig{MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "named-c", Expression: "object.metadata.name == 'c'"}}}, configMap("default", "c", nil, nil), true, ""},
		{"match condition false", ModuleConfig{MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "named-d", Expression: "object.metadata.name == 'd'"}}}, configMap("default", "c", nil, nil), false, ""},
		{"match condition error, Fail", ModuleConfig{MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "bad", Expression: "object.data['missing'] == 'x'"}}}, configMap("default", "c", nil, map[string]string{}), false, "forbidden"},
		{"match condition error, Ignore", ModuleConfig{FailurePolicy: ptr(admissionregistrationv1.Ignore), MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "bad", Expression: "object.data['missing'] == 'x'"}}}, configMap("default", "c", nil, map[string]string{}), false, ""},
		{"user in request variable", ModuleConfig{MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "alice", Expression: "request.userInfo.username == 'alice'"}}}, configMap("default", "c", nil, nil), true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.module
			m.Name = "m0"
			m.Rules = r
			fake := &fakeAdmitter{modules: []ModuleConfig{m}}
			p := newTestPlugin(t, fake)
			err := p.Validate(context.Background(), createAttrs(tc.obj, configMapGVK, configMapGVR, tc.obj.Namespace, tc.obj.Name, "", false), objectInterfaces())
			if tc.errSub != "" {
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.errSub) {
					t.Fatalf("want error containing %q, got %v", tc.errSub, err)
				}
			} else if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := len(fake.callsCopy()) == 1; got != tc.want {
				t.Fatalf("called = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoMatchDoesNotCross: a request no module matches is neither serialized
// nor sent, in both phases; Handles reflects the rules' operations.
func TestNoMatchDoesNotCross(t *testing.T) {
	fake := &fakeAdmitter{modules: []ModuleConfig{
		{Name: "m0", Mutating: true, Rules: []admissionregistrationv1.RuleWithOperations{rule(create, core, star, []string{"secrets"}, "")}},
		{Name: "m1", Rules: []admissionregistrationv1.RuleWithOperations{rule(create, core, star, []string{"secrets"}, "")}},
	}}
	p := newTestPlugin(t, fake)
	a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
	if err := p.Admit(context.Background(), a, objectInterfaces()); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(context.Background(), a, objectInterfaces()); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.callsCopy()); n != 0 {
		t.Fatalf("%d calls crossed into the library, want 0", n)
	}
	if !p.Handles(admission.Create) || p.Handles(admission.Delete) {
		t.Fatalf("Handles: create=%v delete=%v, want true,false", p.Handles(admission.Create), p.Handles(admission.Delete))
	}
}

// TestMutation: the library's patch is applied to the typed object, which
// stays a *corev1.ConfigMap; the request carries what the webhook sends.
func TestMutation(t *testing.T) {
	fake := &fakeAdmitter{
		modules: []ModuleConfig{
			{Name: "m0", Mutating: true, Rules: []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}},
			{Name: "m1", Mutating: true, Rules: []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}},
		},
		respond: func(c fakeCall) (*Result, error) {
			return &Result{
				Allowed:          true,
				Patch:            json.RawMessage(`[{"op":"add","path":"/data/magic-value","value":"foobar"},{"op":"add","path":"/metadata/labels","value":{"mutated":"yes"}}]`),
				Warnings:         []string{"be careful"},
				AuditAnnotations: []AuditAnnotation{{Module: "m0", Key: "seen", Value: "1"}},
				Outcomes:         []binding.Outcome{{Module: "m0", Outcome: "mutated"}, {Module: "m1", Outcome: "allowed"}},
			}, nil
		},
	}
	p := newTestPlugin(t, fake)
	cm := configMap("default", "c", nil, map[string]string{"a": "b"})
	a := createAttrs(cm, configMapGVK, configMapGVR, "default", "c", "", false)
	rec := &record.Warnings{}
	ctx := warning.WithWarningRecorder(context.Background(), rec)
	if err := p.Admit(ctx, a, objectInterfaces()); err != nil {
		t.Fatalf("Admit: %v", err)
	}
	got, ok := a.GetObject().(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("object is %T, want *corev1.ConfigMap", a.GetObject())
	}
	if got.Data["magic-value"] != "foobar" || got.Data["a"] != "b" || got.Labels["mutated"] != "yes" {
		t.Fatalf("object not patched: %+v", got)
	}
	calls := fake.callsCopy()
	if len(calls) != 1 || calls[0].phase != binding.PhaseMutating || !reflect.DeepEqual(calls[0].ids, []uint32{0, 1}) {
		t.Fatalf("want one mutating call for modules [0 1], got %+v", calls)
	}
	req := calls[0].request
	if req.Kind.Kind != "ConfigMap" || req.Resource.Resource != "configmaps" || req.Namespace != "default" || req.Name != "c" ||
		req.UserInfo.Username != "alice" || req.UserInfo.Extra["k"][0] != "v" || req.UID == "" || req.DryRun == nil || *req.DryRun ||
		!strings.Contains(string(req.Object.Raw), `"kind":"ConfigMap"`) || !strings.Contains(string(req.Options.Raw), "CreateOptions") {
		t.Fatalf("unexpected AdmissionRequest: %+v object=%s options=%s", req, req.Object.Raw, req.Options.Raw)
	}
	if !reflect.DeepEqual(rec.List(), []string{"be careful"}) {
		t.Fatalf("warnings = %v", rec.List())
	}
	ann := annotations(a)
	if ann["m0/seen"] != "1" {
		t.Fatalf("module audit annotation missing: %v", ann)
	}
	if !strings.Contains(ann[MutationAuditAnnotationPrefix+"round_0_index_0"], `"mutated":true`) ||
		!strings.Contains(ann[MutationAuditAnnotationPrefix+"round_0_index_1"], `"mutated":false`) {
		t.Fatalf("mutation annotations: %v", ann)
	}
	if !strings.Contains(ann[PatchAuditAnnotationPrefix+"round_0"], "magic-value") {
		t.Fatalf("patch annotation: %v", ann)
	}
	if !a.GetReinvocationContext().ShouldReinvoke() {
		t.Fatalf("a mutation must ask the chain to reinvoke")
	}
}

// TestObjectSelectorSeesEarlierMutation: a mutating module whose
// objectSelector depends on an earlier module's mutation is matched against
// the mutated object (a second library call), as with webhooks.
func TestObjectSelectorSeesEarlierMutation(t *testing.T) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}
	fake := &fakeAdmitter{
		modules: []ModuleConfig{
			{Name: "m0", Mutating: true, Rules: r},
			{Name: "m1", Mutating: true, Rules: r, ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}},
		},
		respond: func(c fakeCall) (*Result, error) {
			if c.ids[0] == 0 {
				return &Result{Allowed: true, Patch: json.RawMessage(`[{"op":"add","path":"/metadata/labels","value":{"app":"x"}}]`),
					Outcomes: []binding.Outcome{{Module: "m0", Outcome: "mutated"}}}, nil
			}
			return allowAll(c), nil
		},
	}
	p := newTestPlugin(t, fake)
	a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
	if err := p.Admit(context.Background(), a, objectInterfaces()); err != nil {
		t.Fatal(err)
	}
	calls := fake.callsCopy()
	if len(calls) != 2 || !reflect.DeepEqual(calls[0].ids, []uint32{0}) || !reflect.DeepEqual(calls[1].ids, []uint32{1}) {
		t.Fatalf("want calls [0] then [1], got %+v", calls)
	}
	if !strings.Contains(string(calls[1].request.Object.Raw), `"app":"x"`) {
		t.Fatalf("second call did not see the mutation: %s", calls[1].request.Object.Raw)
	}
}

// TestDecisions: rejections, failures and failure policies, in both phases.
func TestDecisions(t *testing.T) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}
	cases := []struct {
		name          string
		mutating      bool
		failurePolicy admissionregistrationv1.FailurePolicyType
		result        *Result
		abiErr        error
		wantCode      int32
		wantMsg       string
		wantFailOpen  bool
	}{
		{"rejection with code", false, admissionregistrationv1.Fail,
			&Result{Allowed: false, Module: "m0", Status: &metav1.Status{Code: 422, Message: "no magic"}}, nil,
			422, `admission module "m0" (WASM) denied the request: no magic`, false},
		// The library owns the default code (403, for a module that gave
		// none) and always sends a status with a rejection; the plugin
		// trusts it and only gives it a webhook rejection's shape (a code
		// of at least 400).
		{"rejection code below 400", true, admissionregistrationv1.Fail,
			&Result{Allowed: false, Module: "m0", Status: &metav1.Status{Message: "no magic"}}, nil,
			http.StatusBadRequest, `admission module "m0" (WASM) denied the request: no magic`, false},
		{"rejection without status", false, admissionregistrationv1.Fail,
			&Result{Allowed: false, Module: "m0"}, nil,
			http.StatusBadRequest, `admission module "m0" (WASM) denied the request without explanation`, false},
		{"module failure, Fail", false, admissionregistrationv1.Fail,
			&Result{Allowed: false, Module: "m0", Error: "trap: unreachable", Outcomes: []binding.Outcome{{Module: "m0", Outcome: "error", Error: "trap: unreachable"}}}, nil,
			http.StatusInternalServerError, `failed calling kubewasm module "m0": trap: unreachable`, false},
		{"module failure, Ignore (mutating)", true, admissionregistrationv1.Ignore,
			&Result{Allowed: true, Outcomes: []binding.Outcome{{Module: "m0", Outcome: "ignored", Error: "timeout"}}}, nil,
			0, "", true},
		{"module failure, Ignore (validating)", false, admissionregistrationv1.Ignore,
			&Result{Allowed: true, Outcomes: []binding.Outcome{{Module: "m0", Outcome: "ignored", Error: "timeout"}}}, nil,
			0, "", true},
		{"library error, Fail", false, admissionregistrationv1.Fail,
			nil, &binding.Error{Code: binding.CodePanic, Message: "panic: boom"},
			http.StatusInternalServerError, `failed calling kubewasm module "m0": kubewasm: panic: boom`, false},
		{"library error, Ignore", true, admissionregistrationv1.Ignore,
			nil, &binding.Error{Code: binding.CodeInternal, Message: "oops"},
			0, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeAdmitter{
				modules: []ModuleConfig{{Name: "m0", Mutating: tc.mutating, Rules: r, FailurePolicy: ptr(tc.failurePolicy)}},
				respond: func(fakeCall) (*Result, error) { return tc.result, tc.abiErr },
			}
			p := newTestPlugin(t, fake)
			a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
			var err error
			if tc.mutating {
				err = p.Admit(context.Background(), a, objectInterfaces())
			} else {
				err = p.Validate(context.Background(), a, objectInterfaces())
			}
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
			} else {
				var se *apierrors.StatusError
				if !errors.As(err, &se) {
					t.Fatalf("want a StatusError, got %T %v", err, err)
				}
				if se.ErrStatus.Code != tc.wantCode || !strings.Contains(se.ErrStatus.Message, tc.wantMsg) {
					t.Fatalf("got code %d message %q, want %d containing %q", se.ErrStatus.Code, se.ErrStatus.Message, tc.wantCode, tc.wantMsg)
				}
			}
			failOpen := false
			for k, v := range annotations(a) {
				if strings.HasPrefix(k, "failed-open.") && v == "m0" {
					failOpen = true
				}
			}
			if failOpen != tc.wantFailOpen {
				t.Fatalf("failed-open annotation = %v, want %v (%v)", failOpen, tc.wantFailOpen, annotations(a))
			}
		})
	}
}

// TestDryRun: a dry-run request matched by a module with side effects (Some,
// Unknown) is refused with the webhooks' 400, naming the module, in both
// phases; the module is not called and the request is not admitted without it
// (it is not skipped). None and NoneOnDryRun modules get the request with
// dryRun set.
func TestDryRun(t *testing.T) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}
	for _, tc := range []struct {
		se      admissionregistrationv1.SideEffectClass
		wantErr bool
	}{{admissionregistrationv1.SideEffectClassNone, false}, {admissionregistrationv1.SideEffectClassNoneOnDryRun, false}, {admissionregistrationv1.SideEffectClassSome, true}, {admissionregistrationv1.SideEffectClassUnknown, true}} {
		for _, mutating := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/mutating=%v", tc.se, mutating), func(t *testing.T) {
				fake := &fakeAdmitter{modules: []ModuleConfig{{Name: "m0", Mutating: mutating, Rules: r, SideEffects: ptr(tc.se)}}}
				p := newTestPlugin(t, fake)
				a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", true)
				var err error
				if mutating {
					err = p.Admit(context.Background(), a, objectInterfaces())
				} else {
					err = p.Validate(context.Background(), a, objectInterfaces())
				}
				if tc.wantErr {
					if !apierrors.IsBadRequest(err) || err.Error() != `admission module "m0" (WASM) does not support dry run` {
						t.Fatalf("want dry-run unsupported, got %v", err)
					}
					if len(fake.callsCopy()) != 0 {
						t.Fatalf("module called despite dry run")
					}
				} else if err != nil || len(fake.callsCopy()) != 1 {
					t.Fatalf("err=%v calls=%d", err, len(fake.callsCopy()))
				} else if req := fake.callsCopy()[0].request; req.DryRun == nil || !*req.DryRun {
					t.Fatalf("dryRun not set in the request")
				}
			})
		}
	}
}

// TestReinvocation: an IfNeeded module called before a mutation is called
// again in the reinvocation round; a Never module is not.
func TestReinvocation(t *testing.T) {
	r := []admissionregistrationv1.RuleWithOperations{rule(all, core, star, []string{"configmaps"}, "")}
	fake := &fakeAdmitter{
		modules: []ModuleConfig{
			{Name: "m0", Mutating: true, Rules: r, ReinvocationPolicy: ptr(admissionregistrationv1.IfNeededReinvocationPolicy)},
			{Name: "m1", Mutating: true, Rules: r},
		},
		respond: func(c fakeCall) (*Result, error) {
			res := &Result{Allowed: true}
			for _, id := range c.ids {
				res.Outcomes = append(res.Outcomes, binding.Outcome{Module: moduleName(id), Outcome: "allowed"})
			}
			if len(c.ids) == 2 { // first round: m1 mutates
				res.Outcomes[1].Outcome = "mutated"
				res.Patch = json.RawMessage(`[{"op":"add","path":"/data","value":{"x":"y"}}]`)
			}
			return res, nil
		},
	}
	p := newTestPlugin(t, fake)
	a := createAttrs(configMap("default", "c", nil, nil), configMapGVK, configMapGVR, "default", "c", "", false)
	if err := p.Admit(context.Background(), a, objectInterfaces()); err != nil {
		t.Fatal(err)
	}
	rc := a.GetReinvocationContext()
	if !rc.ShouldReinvoke() {
		t.Fatalf("want reinvocation requested")
	}
	rc.SetIsReinvoke()
	if err := p.Admit(context.Background(), a, objectInterfaces()); err != nil {
		t.Fatal(err)
	}
	calls := fake.callsCopy()
	if len(calls) != 2 || !reflect.DeepEqual(calls[1].ids, []uint32{0}) {
		t.Fatalf("want the second round to call only module 0, got %+v", calls)
	}
}

// TestExemptConfigurationResources: webhook configuration objects never go
// to modules, as with webhooks.
func TestExemptConfigurationResources(t *testing.T) {
	fake := &fakeAdmitter{modules: []ModuleConfig{{Name: "m0", Rules: []admissionregistrationv1.RuleWithOperations{rule(all, star, star, star, "")}}}}
	p := newTestPlugin(t, fake)
	gvk := schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingWebhookConfiguration"}
	gvr := schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
	obj := &admissionregistrationv1.ValidatingWebhookConfiguration{TypeMeta: metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"}}
	if err := p.Validate(context.Background(), createAttrs(obj, gvk, gvr, "", "x", "", false), objectInterfaces()); err != nil {
		t.Fatal(err)
	}
	if len(fake.callsCopy()) != 0 {
		t.Fatalf("exempt resource sent to a module")
	}
}

// TestNamespaceSelectorNeedsLister: ValidateInitialization insists on a
// namespace lister only when a module has a namespaceSelector.
func TestNamespaceSelectorNeedsLister(t *testing.T) {
	fake := &fakeAdmitter{modules: []ModuleConfig{{Name: "m0", NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}}}
	p, err := newWithAdmitter(fake)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ValidateInitialization(); err == nil {
		t.Fatalf("want an error without namespace lister")
	}
	fake = &fakeAdmitter{modules: []ModuleConfig{{Name: "m0"}}}
	if p, err = newWithAdmitter(fake); err != nil {
		t.Fatal(err)
	}
	if err := p.ValidateInitialization(); err != nil {
		t.Fatalf("no namespaceSelector, no lister needed: %v", err)
	}
}

// TestInvalidMatchConditions: a bad CEL expression is a configuration error
// listing every problem.
func TestInvalidMatchConditions(t *testing.T) {
	fake := &fakeAdmitter{modules: []ModuleConfig{
		{Name: "m0", MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "syntax", Expression: "object.metadata.name =="}}},
		{Name: "m1", MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "type", Expression: "'not a bool'"}}},
	}}
	_, err := newWithAdmitter(fake)
	if err == nil || !strings.Contains(err.Error(), `modules[0] "m0": matchConditions[0].expression: Invalid value: "object.metadata.name ==": compilation failed: `) || !strings.Contains(err.Error(), `modules[1] "m1": matchConditions[0].expression: Invalid value: "'not a bool'": must evaluate to bool`) {
		t.Fatalf("want both problems listed, got %v", err)
	}
}

// annotations returns the audit annotations recorded on attributes made by
// createAttrs.
func annotations(a admission.Attributes) map[string]string {
	return a.(*record.Attributes).Annotations()
}
