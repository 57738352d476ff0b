package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/kubewasm/kubewasm/go/internal/record"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"

	wasmadmission "github.com/kubewasm/kubewasm/go/admission"
	wasmauthenticator "github.com/kubewasm/kubewasm/go/authenticator"
	wasmauthorizer "github.com/kubewasm/kubewasm/go/authorizer"
	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// check validates a configuration and loads its modules; it returns the
// module names and the load-time notes (precompiled modules used or ignored).
func check(kindName, path string) ([]string, []binding.LogLine, error) {
	kind, err := binding.ParseKind(kindName)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	h, err := binding.Init(kind, data, filepath.Dir(path))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	closeModules := h.Close
	if kind == binding.KindAdmission {
		// Also build the plugin, on the same handle: selectors, match
		// conditions and validationActions are checked on the Go side.
		p, err := wasmadmission.NewFromHandle(h)
		if err != nil {
			_ = h.Close()
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		closeModules = p.Close
	}
	defer closeModules()
	var mods struct {
		Modules []struct {
			Name string `json:"name"`
		} `json:"modules"`
		Logs []binding.LogLine `json:"logs"`
	}
	if err := h.Modules(func(out []byte) error { return json.Unmarshal(out, &mods) }); err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(mods.Modules))
	for _, m := range mods.Modules {
		names = append(names, m.Name)
	}
	return names, mods.Logs, nil
}

// authenticate answers a TokenReview. The request's spec.audiences are both
// the audiences of the request context and the API server's implicit
// audiences.
func authenticate(ctx context.Context, cfg configSource, in []byte, _ io.Writer) (interface{}, error) {
	var tr authenticationv1.TokenReview
	if err := strictUnmarshal(in, &tr); err != nil {
		return nil, fmt.Errorf("decoding TokenReview: %w", err)
	}
	a, err := newAuthenticator(cfg, tr.Spec.Audiences)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	reviewToken(ctx, a, &tr)
	return &tr, nil
}

// newAuthenticator loads an authentication configuration.
func newAuthenticator(cfg configSource, audiences []string) (*wasmauthenticator.Authenticator, error) {
	data, dir, err := cfg.load(binding.KindAuthentication)
	if err != nil {
		return nil, fmt.Errorf("reading authentication configuration: %w", err)
	}
	a, err := wasmauthenticator.New(data, dir, audiences)
	if err != nil {
		return nil, fmt.Errorf("authentication configuration %s: %w", cfg.path, err)
	}
	return a, nil
}

// reviewToken fills in tr.Status as the API server's authenticator decides.
func reviewToken(ctx context.Context, a *wasmauthenticator.Authenticator, tr *authenticationv1.TokenReview) {
	if len(tr.Spec.Audiences) > 0 {
		ctx = authenticator.WithAudiences(ctx, tr.Spec.Audiences)
	}
	resp, ok, err := a.AuthenticateToken(ctx, tr.Spec.Token)
	tr.Status = authenticationv1.TokenReviewStatus{}
	switch {
	case err != nil:
		tr.Status.Error = err.Error()
	case ok:
		tr.Status.Authenticated = true
		tr.Status.Audiences = resp.Audiences
		tr.Status.User = authenticationv1.UserInfo{
			Username: resp.User.GetName(),
			UID:      resp.User.GetUID(),
			Groups:   resp.User.GetGroups(),
		}
		if extra := resp.User.GetExtra(); extra != nil {
			tr.Status.User.Extra = map[string]authenticationv1.ExtraValue{}
			for k, v := range extra {
				tr.Status.User.Extra[k] = v
			}
		}
	}
	tr.APIVersion, tr.Kind = authenticationv1.SchemeGroupVersion.String(), "TokenReview"
}

// authorize answers a SubjectAccessReview through the authorizer, from
// attributes rebuilt from the review's spec.
func authorize(ctx context.Context, cfg configSource, in []byte, _ io.Writer) (interface{}, error) {
	var sar authorizationv1.SubjectAccessReview
	if err := strictUnmarshal(in, &sar); err != nil {
		return nil, fmt.Errorf("decoding SubjectAccessReview: %w", err)
	}
	a, err := newAuthorizer(cfg)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if err := reviewAccess(ctx, a, &sar); err != nil {
		return nil, err
	}
	return &sar, nil
}

// newAuthorizer loads an authorization configuration.
func newAuthorizer(cfg configSource) (*wasmauthorizer.Authorizer, error) {
	data, dir, err := cfg.load(binding.KindAuthorization)
	if err != nil {
		return nil, fmt.Errorf("reading authorization configuration: %w", err)
	}
	a, err := wasmauthorizer.New(data, dir)
	if err != nil {
		return nil, fmt.Errorf("authorization configuration %s: %w", cfg.path, err)
	}
	return a, nil
}

// reviewAccess fills in sar.Status as the API server's authorizer decides.
func reviewAccess(ctx context.Context, a *wasmauthorizer.Authorizer, sar *authorizationv1.SubjectAccessReview) error {
	attrs, err := attributesFrom(&sar.Spec)
	if err != nil {
		return err
	}
	decision, reason, err := a.Authorize(ctx, attrs)
	sar.Status = authorizationv1.SubjectAccessReviewStatus{
		Allowed: decision == authorizer.DecisionAllow,
		Denied:  decision == authorizer.DecisionDeny,
		Reason:  reason,
	}
	if err != nil {
		sar.Status.EvaluationError = err.Error()
	}
	sar.APIVersion, sar.Kind = authorizationv1.SchemeGroupVersion.String(), "SubjectAccessReview"
	return nil
}

func attributesFrom(spec *authorizationv1.SubjectAccessReviewSpec) (authorizer.AttributesRecord, error) {
	u := &user.DefaultInfo{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if spec.Extra != nil {
		u.Extra = map[string][]string{}
		for k, v := range spec.Extra {
			u.Extra[k] = v
		}
	}
	attrs := authorizer.AttributesRecord{User: u}
	switch {
	case spec.ResourceAttributes != nil:
		ra := spec.ResourceAttributes
		attrs.ResourceRequest = true
		attrs.Verb, attrs.Namespace, attrs.Name = ra.Verb, ra.Namespace, ra.Name
		attrs.APIGroup, attrs.APIVersion, attrs.Resource, attrs.Subresource = ra.Group, ra.Version, ra.Resource, ra.Subresource
		if ra.FieldSelector != nil {
			for _, r := range ra.FieldSelector.Requirements {
				op := selection.Equals
				if r.Operator == metav1.FieldSelectorOpNotIn {
					op = selection.NotEquals
				}
				for _, v := range r.Values {
					attrs.FieldSelectorRequirements = append(attrs.FieldSelectorRequirements, fields.Requirement{Field: r.Key, Operator: op, Value: v})
				}
			}
		}
		if ra.LabelSelector != nil {
			for _, r := range ra.LabelSelector.Requirements {
				op := map[metav1.LabelSelectorOperator]selection.Operator{
					metav1.LabelSelectorOpIn: selection.In, metav1.LabelSelectorOpNotIn: selection.NotIn,
					metav1.LabelSelectorOpExists: selection.Exists, metav1.LabelSelectorOpDoesNotExist: selection.DoesNotExist,
				}[r.Operator]
				req, err := labels.NewRequirement(r.Key, op, r.Values)
				if err != nil {
					return attrs, fmt.Errorf("labelSelector: %w", err)
				}
				attrs.LabelSelectorRequirements = append(attrs.LabelSelectorRequirements, *req)
			}
		}
	case spec.NonResourceAttributes != nil:
		attrs.Verb, attrs.Path = spec.NonResourceAttributes.Verb, spec.NonResourceAttributes.Path
	default:
		return attrs, fmt.Errorf("the SubjectAccessReview has neither resourceAttributes nor nonResourceAttributes")
	}
	return attrs, nil
}

// admit answers an AdmissionReview (or a bare AdmissionRequest): the
// mutating phase, then (if it allowed) the validating phase, as the
// admission chain runs them.
func admit(ctx context.Context, cfg configSource, in []byte, stderr io.Writer) (interface{}, error) {
	review, err := decodeAdmission(in)
	if err != nil {
		return nil, err
	}
	r, err := newAdmissionRunner(cfg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	r.namespaces.labels = cfg.namespaceLabels
	out, err := r.review(ctx, review, bothPhases, stderr)
	if err != nil {
		return nil, err
	}
	return out.review, nil
}

// admissionPhases selects the admission phases a request goes through.
type admissionPhases int

const (
	// bothPhases runs the mutating phase, then the validating phase if the
	// mutating phase allowed the request.
	bothPhases admissionPhases = iota
	// mutatingPhase runs the mutating phase only.
	mutatingPhase
	// validatingPhase runs the validating phase only, on the request as
	// given.
	validatingPhase
)

// admissionRunner runs requests through one loaded admission plugin.
type admissionRunner struct {
	plugin     *wasmadmission.Plugin
	namespaces *cliNamespaces
}

// newAdmissionRunner loads an admission configuration into the plugin the
// API server uses, with namespaces answered offline.
func newAdmissionRunner(cfg configSource) (*admissionRunner, error) {
	data, dir, err := cfg.load(binding.KindAdmission)
	if err != nil {
		return nil, fmt.Errorf("reading admission configuration: %w", err)
	}
	p, err := wasmadmission.New(data, dir)
	if err != nil {
		return nil, fmt.Errorf("admission configuration %s: %w", cfg.path, err)
	}
	ns := &cliNamespaces{}
	p.SetNamespaceLister(ns)
	if err := p.ValidateInitialization(); err != nil {
		_ = p.Close()
		return nil, err
	}
	return &admissionRunner{plugin: p, namespaces: ns}, nil
}

func (r *admissionRunner) close() { _ = r.plugin.Close() }

// admissionOutcome is an answered AdmissionReview and the per-phase reports
// of what the modules did.
type admissionOutcome struct {
	review  *admissionv1.AdmissionReview
	reports []wasmadmission.PhaseReport
}

// review answers review.Request (completed by decodeAdmission) through the
// selected phases and prints the summary of the phases on summary.
func (r *admissionRunner) review(ctx context.Context, review *admissionv1.AdmissionReview, phases admissionPhases, summary io.Writer) (*admissionOutcome, error) {
	req := review.Request
	attrs, err := attributesFromRequest(req)
	if err != nil {
		return nil, err
	}
	p := r.plugin
	var mu sync.Mutex
	var reports []wasmadmission.PhaseReport
	rec := &record.Warnings{}
	ctx = warning.WithWarningRecorder(ctx, rec)
	ctx = wasmadmission.WithReporter(ctx, func(r wasmadmission.PhaseReport) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, r)
	})
	o := admission.NewObjectInterfacesFromScheme(scheme.Scheme)
	if p.Handles(attrs.GetOperation()) {
		if phases != validatingPhase {
			err = p.Admit(ctx, attrs, o)
		}
		if err == nil && phases != mutatingPhase {
			err = p.Validate(ctx, attrs, o)
		}
	}

	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: err == nil, Warnings: rec.List()}
	if err != nil {
		var se *apierrors.StatusError
		if errors.As(err, &se) {
			resp.Result = &se.ErrStatus
		} else {
			resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: 500, Message: err.Error()}
		}
	}
	if patch := combinedPatch(reports); len(patch) > 0 { // shown even when the validating phase then rejected
		resp.Patch, _ = json.Marshal(patch)
		pt := admissionv1.PatchTypeJSONPatch
		resp.PatchType = &pt
	}
	if ann := attrs.Annotations(); len(ann) > 0 {
		resp.AuditAnnotations = ann
	}
	summarize(summary, reports, phases)
	out := *review
	out.Response = resp
	out.APIVersion, out.Kind = admissionv1.SchemeGroupVersion.String(), "AdmissionReview"
	return &admissionOutcome{review: &out, reports: reports}, nil
}

// combinedPatch joins the patches of the mutating calls, in order: applied to
// the request's object, it gives the object the API server would store.
func combinedPatch(reports []wasmadmission.PhaseReport) []json.RawMessage {
	var patch []json.RawMessage
	for _, r := range reports {
		if r.Phase != binding.PhaseMutating || r.Result == nil || len(r.Result.Patch) == 0 {
			continue
		}
		var ops []json.RawMessage
		if json.Unmarshal(r.Result.Patch, &ops) == nil {
			patch = append(patch, ops...)
		}
	}
	return patch
}

func attributesFromRequest(req *admissionv1.AdmissionRequest) (*record.Attributes, error) {
	gvk := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
	obj, err := decodeObject(req.Object.Raw, gvk)
	if err != nil {
		return nil, fmt.Errorf("request.object: %w", err)
	}
	old, err := decodeObject(req.OldObject.Raw, gvk)
	if err != nil {
		return nil, fmt.Errorf("request.oldObject: %w", err)
	}
	var opts runtime.Object
	if len(req.Options.Raw) > 0 {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(req.Options.Raw); err == nil {
			opts = u
		}
	}
	u := &user.DefaultInfo{Name: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups}
	if req.UserInfo.Extra != nil {
		u.Extra = map[string][]string{}
		for k, v := range req.UserInfo.Extra {
			u.Extra[k] = v
		}
	}
	dryRun := req.DryRun != nil && *req.DryRun
	gvr := schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource}
	if req.Operation == "" {
		return nil, fmt.Errorf("request.operation is empty")
	}
	return record.NewAttributes(admission.NewAttributesRecord(obj, old, gvk, req.Namespace, req.Name, gvr, req.SubResource,
		admission.Operation(req.Operation), opts, dryRun, u)), nil
}

// decodeObject decodes an object of the request into its typed Go type when
// client-go knows the kind, else into an Unstructured (as a custom resource).
func decodeObject(raw []byte, gvk schema.GroupVersionKind) (runtime.Object, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	raw, err := withTypeMeta(raw, gvk)
	if err != nil {
		return nil, err
	}
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		if !runtime.IsNotRegisteredError(err) {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, err
		}
		obj = u
	}
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		obj.GetObjectKind().SetGroupVersionKind(gvk)
	}
	return obj, nil
}

// summarize prints which modules matched in each phase and what they did.
func summarize(w io.Writer, reports []wasmadmission.PhaseReport, phases admissionPhases) {
	seen := map[binding.Phase]bool{}
	for _, r := range reports {
		seen[r.Phase] = true
		if len(r.Matched) == 0 {
			fmt.Fprintf(w, "%-10s no module matched\n", r.Phase.String()+":")
			continue
		}
		fmt.Fprintf(w, "%-10s matched %s\n", r.Phase.String()+":", strings.Join(r.Matched, ", "))
		if r.Result == nil {
			continue
		}
		for _, oc := range r.Result.Outcomes {
			line := fmt.Sprintf("  %s: %s (%s)", oc.Module, oc.Outcome, time.Duration(oc.DurationNanos))
			if oc.Error != "" {
				line += ": " + oc.Error
			}
			fmt.Fprintln(w, line)
		}
		if p := strings.TrimSpace(string(r.Result.Patch)); p != "" && p != "null" && p != "[]" {
			fmt.Fprintf(w, "  patch: %s\n", p)
		}
	}
	for _, ph := range []binding.Phase{binding.PhaseMutating, binding.PhaseValidating} {
		if (ph == binding.PhaseMutating && phases == validatingPhase) || (ph == binding.PhaseValidating && phases == mutatingPhase) {
			continue
		}
		if !seen[ph] {
			fmt.Fprintf(w, "%-10s not run\n", ph.String()+":")
		}
	}
}

// cliNamespaces answers namespace lookups offline: every namespace exists,
// with the kubernetes.io/metadata.name label the API server sets plus labels
// (admit --namespace-labels, a test case's namespaceLabels).
type cliNamespaces struct {
	labels map[string]string
}

func (c *cliNamespaces) Get(name string) (*corev1.Namespace, error) {
	l := map[string]string{corev1.LabelMetadataName: name}
	for k, v := range c.labels {
		l[k] = v
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, nil
}

func (c *cliNamespaces) List(sel labels.Selector) ([]*corev1.Namespace, error) {
	return nil, nil
}

// namespaceLabelsFlag parses admit --namespace-labels k=v,k2=v2 into the
// map, which one run owns.
type namespaceLabelsFlag map[string]string

func (f namespaceLabelsFlag) String() string {
	var kv []string
	for k, v := range f {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func (f namespaceLabelsFlag) Set(s string) error {
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("want key=value, got %q", kv)
		}
		f[k] = v
	}
	return nil
}

// strictUnmarshal rejects unknown fields, so that typos in hand-written
// requests are reported.
func strictUnmarshal(data []byte, v interface{}) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func jsonIndent(v interface{}) ([]byte, error) {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// setupLogging sends klog to stderr at V(4) when verbose, and silences it
// otherwise.
func setupLogging(verbose bool, stderr io.Writer) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if verbose {
		_ = fs.Set("v", "4")
		klog.SetOutput(stderr)
		_ = fs.Set("logtostderr", "false")
		_ = fs.Set("alsologtostderr", "false")
		_ = fs.Set("stderrthreshold", "FATAL")
		return
	}
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}
