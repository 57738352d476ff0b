package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	jsonserializer "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/generic"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/mutating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	webhookrequest "k8s.io/apiserver/pkg/admission/plugin/webhook/request"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/klog/v2"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/metrics"
	"github.com/kubewasm/kubewasm/go/internal/reload"
)

// Audit annotation key prefixes. They mirror the webhook dispatchers' keys
// (mutation.webhook.admission.k8s.io/round_<r>_index_<i> ...) under a prefix
// of their own, so that they never collide with the webhooks' keys; <i> is
// the module's index in the configuration.
const (
	// MutationAuditAnnotationPrefix records, per called mutating module,
	// whether it mutated the object (level Metadata).
	MutationAuditAnnotationPrefix = "mutation.wasm.admission.kubewasm.io/"
	// PatchAuditAnnotationPrefix records the combined patch of a mutating
	// call (level Request).
	PatchAuditAnnotationPrefix = "patch.wasm.admission.kubewasm.io/"
	// MutationAuditAnnotationFailedOpenKeyPrefix records a mutating module
	// that failed with failurePolicy Ignore.
	MutationAuditAnnotationFailedOpenKeyPrefix = "failed-open." + MutationAuditAnnotationPrefix
	// ValidatingAuditAnnotationFailedOpenKeyPrefix records a validating
	// module that failed with failurePolicy Ignore.
	ValidatingAuditAnnotationFailedOpenKeyPrefix = "failed-open.validating.wasm.admission.kubewasm.io/"
)

// PhaseReport describes one library call of an admission phase, for
// observers such as the CLI.
type PhaseReport struct {
	// Phase is mutating or validating.
	Phase binding.Phase
	// Matched names the modules that matched the request and were called,
	// in order; empty when no module matched (then Result is nil).
	Matched []string
	// Result is the library's answer.
	Result *Result
}

type reporterKey struct{}

// WithReporter returns a context whose admission calls report every phase to
// r. It is meant for tools (the kubewasm CLI), not for the API server.
func WithReporter(ctx context.Context, r func(PhaseReport)) context.Context {
	reportersUsed.Store(true)
	return context.WithValue(ctx, reporterKey{}, r)
}

// reportersUsed is set by the first WithReporter. Until then report does not
// look the reporter up: in kube-apiserver, which never sets one, a lookup
// would walk the request context's whole chain of values (a few dozen) for
// every request, matched or not, only to find nothing.
var reportersUsed atomic.Bool

func report(ctx context.Context, r PhaseReport) {
	if !reportersUsed.Load() {
		return
	}
	if f, ok := ctx.Value(reporterKey{}).(func(PhaseReport)); ok {
		f(r)
	}
}

// group is a run of matched modules that share one invocation (resource,
// subresource and kind); with matchPolicy Equivalent a module can be matched
// with another version than the request's. Each group is one library call.
type group struct {
	invocation *generic.WebhookInvocation
	modules    []*module
}

// match returns the matched modules of a phase grouped by invocation, in
// configuration order.
func (p *Plugin) match(ctx context.Context, mods []*module, attr admission.Attributes, o admission.ObjectInterfaces, v *versionedAttributeAccessor, skip func(*module) bool) ([]group, error) {
	var groups []group
	for _, m := range mods {
		if skip != nil && skip(m) {
			continue
		}
		inv, statusErr := p.shouldCall(ctx, m, attr, o, v)
		if statusErr != nil {
			return nil, statusErr
		}
		if inv == nil {
			continue
		}
		if n := len(groups); n > 0 && groups[n-1].open() && sameInvocation(groups[n-1].invocation, inv) {
			groups[n-1].modules = append(groups[n-1].modules, m)
			continue
		}
		groups = append(groups, group{invocation: inv, modules: []*module{m}})
	}
	return groups, nil
}

// open reports whether more modules may join the group's library call: not
// after a module without Deny in its validationActions. The library stops at
// the first module that says no; when that module's "no" is only a warning or
// an audit record, the modules after it must still run, so it ends its call.
func (g group) open() bool {
	return len(g.modules) == 0 || g.modules[len(g.modules)-1].denies()
}

func sameInvocation(a, b *generic.WebhookInvocation) bool {
	return a.Kind == b.Kind && a.Resource == b.Resource && a.Subresource == b.Subresource
}

// Admit implements admission.MutationInterface: the mutating modules.
//
// The modules are matched on the current generation without a reference to
// it (matching reads Go data only): a request that matches nothing costs no
// atomic operation. The reference is taken before the first library call;
// if the generation was swapped out and freed in between, the request starts
// over on the new one (errStaleGeneration).
func (p *Plugin) Admit(ctx context.Context, attr admission.Attributes, o admission.ObjectInterfaces) error {
	for {
		gen := p.gens.Current()
		if gen == nil {
			return admission.NewForbidden(attr, binding.ErrClosed)
		}
		if err := p.admit(ctx, gen, attr, o); err != errStaleGeneration {
			return err
		}
	}
}

// errStaleGeneration: the generation a request was matched on was freed
// before its first library call; the request starts over.
var errStaleGeneration = errors.New("kubewasm: the configuration was reloaded during the request")

// admit is Admit on one generation.
func (p *Plugin) admit(ctx context.Context, gen *reload.Generation[*generation], attr admission.Attributes, o admission.ObjectInterfaces) error {
	c := gen.Value
	if len(c.mutating) == 0 || rules.IsExemptAdmissionConfigurationResource(attr) {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(attr, fmt.Errorf("not yet ready to handle request"))
	}
	reinvokeCtx := attr.GetReinvocationContext()
	var rc *reinvokeContext
	stale, acquired := false, false
	defer func() {
		if acquired {
			gen.Release()
		}
	}()
	if reinvokeCtx.IsReinvoke() {
		if !c.reinvoke {
			// Only IfNeeded modules are ever reinvoked.
			return nil
		}
	}
	if c.reinvoke {
		if v := reinvokeCtx.Value(PluginName); v != nil {
			rc = v.(*reinvokeContext)
		} else {
			rc = &reinvokeContext{}
			reinvokeCtx.SetValue(PluginName, rc)
		}
		if reinvokeCtx.IsReinvoke() && rc.isOutputChangedSinceLastInvocation(attr.GetObject()) {
			rc.requireReinvokingPreviouslyInvoked()
		}
		defer func() {
			if !stale {
				rc.setLastInvocationOutput(attr.GetObject())
			}
		}()
	}
	var skip func(*module) bool
	if reinvokeCtx.IsReinvoke() {
		skip = func(m *module) bool { return !rc.shouldReinvoke(m.accessor.GetUID()) }
	}

	round := 0
	if reinvokeCtx.IsReinvoke() {
		round = 1
	}
	// Modules are matched in order and batched into one library call. A
	// module whose match depends on the object (objectSelector,
	// matchConditions) is matched against the object as the modules before it
	// left it, as the mutating webhook dispatcher does: the pending batch is
	// called (and its patch applied) first. Without such modules the phase is
	// one call.
	//
	// A module without Deny in its validationActions is called alone: the
	// library stops at a rejection and returns no patch, so a module whose
	// rejection is overruled must neither hide the mutations of the modules
	// before it nor keep the ones after it from running.
	v := &versionedAttributeAccessor{attr: attr, objectInterfaces: o}
	failures := &validationFailures{key: fmt.Sprintf(MutationValidationFailureAuditAnnotationKeyFormat, round)}
	defer failures.publish(attr)
	var pending group
	called, gi := false, 0
	flush := func() error {
		if len(pending.modules) == 0 {
			return nil
		}
		if !acquired {
			if !gen.TryAcquire() {
				stale = true
				return errStaleGeneration
			}
			acquired = true
		}
		g := pending
		pending = group{}
		called = true
		gi++
		return p.callMutating(ctx, c, g, v, o, round, gi-1, reinvokeCtx, rc, failures)
	}
	for _, m := range c.mutating {
		if skip != nil && skip(m) {
			continue
		}
		if len(pending.modules) > 0 && (m.objectDependent || !m.denies()) {
			if err := flush(); err != nil {
				return err
			}
		}
		var attrForCheck admission.Attributes = attr
		if v.versionedAttr != nil {
			attrForCheck = v.versionedAttr
		}
		inv, statusErr := p.shouldCall(ctx, m, attrForCheck, o, v)
		if statusErr != nil {
			return statusErr
		}
		if inv == nil {
			continue
		}
		if len(pending.modules) > 0 && !sameInvocation(pending.invocation, inv) {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(pending.modules) == 0 {
			pending.invocation = inv
		}
		pending.modules = append(pending.modules, m)
		if !m.denies() {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if !called {
		report(ctx, PhaseReport{Phase: binding.PhaseMutating})
		return nil
	}
	va := v.versionedAttr
	if va != nil && va.VersionedObject.Object() != nil && va.Dirty {
		return o.GetObjectConvertor().Convert(va.VersionedObject.Object(), va.Attributes.GetObject(), nil)
	}
	return nil
}

// trackReinvocation mirrors the mutating webhook dispatcher's bookkeeping,
// module by module in call order: a module that changed the object asks the
// chain to run again and marks the IfNeeded modules called before it for
// reinvocation; a called IfNeeded module becomes reinvocable.
func trackReinvocation(reinvokeCtx admission.ReinvocationContext, rc *reinvokeContext, g group, res *Result, changed bool) {
	outcome := make(map[string]string, len(res.Outcomes))
	for _, oc := range res.Outcomes {
		outcome[oc.Module] = oc.Outcome
	}
	for _, m := range g.modules {
		oc, called := outcome[m.config.Name]
		if !called {
			continue
		}
		if changed && oc == "mutated" {
			if rc != nil {
				rc.requireReinvokingPreviouslyInvoked()
			}
			reinvokeCtx.SetShouldReinvoke()
		}
		if rc != nil && m.config.ReinvocationPolicy != nil && *m.config.ReinvocationPolicy == admissionregistrationv1.IfNeededReinvocationPolicy {
			rc.addReinvocable(m.accessor.GetUID())
		}
	}
}

// Validate implements admission.ValidationInterface: the validating modules.
// Like Admit, it matches on the current generation without a reference and
// takes one only when a module matched.
func (p *Plugin) Validate(ctx context.Context, attr admission.Attributes, o admission.ObjectInterfaces) error {
	for {
		gen := p.gens.Current()
		if gen == nil {
			return admission.NewForbidden(attr, binding.ErrClosed)
		}
		if err := p.validate(ctx, gen, attr, o); err != errStaleGeneration {
			return err
		}
	}
}

// validate is Validate on one generation.
func (p *Plugin) validate(ctx context.Context, gen *reload.Generation[*generation], attr admission.Attributes, o admission.ObjectInterfaces) error {
	c := gen.Value
	if len(c.validating) == 0 || rules.IsExemptAdmissionConfigurationResource(attr) {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(attr, fmt.Errorf("not yet ready to handle request"))
	}
	v := &versionedAttributeAccessor{attr: attr, objectInterfaces: o}
	failures := &validationFailures{key: ValidationFailureAuditAnnotationKey}
	defer failures.publish(attr)
	groups, err := p.match(ctx, c.validating, attr, o, v, nil)
	if err != nil {
		return err
	}
	if len(groups) == 0 {
		report(ctx, PhaseReport{Phase: binding.PhaseValidating})
		return nil
	}
	if !gen.TryAcquire() {
		return errStaleGeneration
	}
	defer gen.Release()
	for _, g := range groups {
		va, err := v.VersionedAttribute(g.invocation.Kind)
		if err != nil {
			return err
		}
		if err := checkDryRun(va, g.modules); err != nil {
			return err
		}
		req, _, err := buildRequest(va, g.invocation, p.serializer(o))
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		res := p.invoke(ctx, c, binding.PhaseValidating, attr.GetOperation(), g, req)
		p.passThrough(ctx, va, binding.PhaseValidating, 0, g, res)
		if err := decide(ctx, g, res, failures); err != nil {
			return err
		}
	}
	return nil
}

// callMutating runs one group of mutating modules and applies their patch.
func (p *Plugin) callMutating(ctx context.Context, c *generation, g group, v *versionedAttributeAccessor, o admission.ObjectInterfaces, round, gi int, reinvokeCtx admission.ReinvocationContext, rc *reinvokeContext, failures *validationFailures) error {
	va, err := v.VersionedAttribute(g.invocation.Kind)
	if err != nil {
		return err
	}
	if err := checkDryRun(va, g.modules); err != nil {
		return err
	}
	ser := p.serializer(o)
	req, objJS, err := buildRequest(va, g.invocation, ser)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	res := p.invoke(ctx, c, binding.PhaseMutating, va.GetOperation(), g, req)
	p.passThrough(ctx, va, binding.PhaseMutating, round, g, res)
	changed := false
	err = decide(ctx, g, res, failures)
	if err == nil && res.Allowed {
		changed, err = applyPatch(va, o, ser, objJS, res)
	}
	p.annotateMutations(va, round, g, res, changed)
	if changed {
		p.annotatePatch(va, round, gi, res)
	}
	trackReinvocation(reinvokeCtx, rc, g, res, changed)
	return err
}

// checkDryRun refuses a dry-run request for modules with side effects, as
// the webhook dispatchers do.
func checkDryRun(va *admission.VersionedAttributes, mods []*module) error {
	if !va.IsDryRun() {
		return nil
	}
	for _, m := range mods {
		// setDefaults set sideEffects (None when not configured).
		se := m.config.SideEffects
		if *se != admissionregistrationv1.SideEffectClassNone && *se != admissionregistrationv1.SideEffectClassNoneOnDryRun {
			return dryRunUnsupportedError(m.config.Name)
		}
	}
	return nil
}

// buildRequest builds the AdmissionRequest with request.CreateV1AdmissionReview
// and encodes it. The object and old object are encoded with the scheme's
// JSON serializer, as the mutating webhook dispatcher encodes the object it
// patches; objJS is that encoding of the object, the document the library's
// patch applies to. ser is the Plugin's serializer for the request's
// ObjectInterfaces.
func buildRequest(va *admission.VersionedAttributes, inv *generic.WebhookInvocation, ser runtime.Serializer) (req, objJS []byte, err error) {
	review := webhookrequest.CreateV1AdmissionReview(uuid.NewUUID(), va, inv)
	if obj := va.VersionedObject.Object(); obj != nil {
		if objJS, err = runtime.Encode(ser, obj); err != nil {
			return nil, nil, err
		}
		review.Request.Object = runtime.RawExtension{Raw: bytes.TrimRight(objJS, "\n")}
	}
	if old := va.VersionedOldObject.Object(); old != nil {
		oldJS, err := runtime.Encode(ser, old)
		if err != nil {
			return nil, nil, err
		}
		review.Request.OldObject = runtime.RawExtension{Raw: bytes.TrimRight(oldJS, "\n")}
	}
	req, err = json.Marshal(review.Request)
	return req, objJS, err
}

// invoke makes the one library call of a group. A library error (not a module
// failure: those are in the result) fails every module of the group, and is
// then handled with their failure policies: Fail if any of them says Fail.
func (p *Plugin) invoke(ctx context.Context, c *generation, phase binding.Phase, op admission.Operation, g group, req []byte) *Result {
	ids := make([]uint32, len(g.modules))
	names := make([]string, len(g.modules))
	for i, m := range g.modules {
		ids[i] = m.id
		names[i] = m.config.Name
	}
	var res Result
	start := time.Now()
	err := c.admitter.Admit(phase, ids, req, binding.TimeoutFrom(ctx), func(out []byte) error {
		metrics.ObserveCall(binding.KindAdmission, start)
		var err error
		res, err = decodeResult(out)
		return err
	})
	if err != nil {
		metrics.ObserveError(binding.KindAdmission, err)
		res = Result{Allowed: true}
		for _, m := range g.modules {
			if !m.failOpen() && res.Allowed {
				res.Allowed = false
				res.Module = m.config.Name
				res.Error = err.Error()
			}
		}
		if res.Allowed {
			for _, m := range g.modules {
				res.Outcomes = append(res.Outcomes, binding.Outcome{Module: m.config.Name, Outcome: "ignored", Error: err.Error()})
			}
		}
	}
	metrics.ObserveOutcomes(binding.KindAdmission, res.Outcomes)
	observeModules(phase, op, g, &res, err)
	report(ctx, PhaseReport{Phase: phase, Matched: names, Result: &res})
	return &res
}

// observeModules records the webhook-shaped per-module series of one call:
// every module's duration by operation and whether it rejected the request
// (its answer or failure said no and its validationActions have Deny), its
// rejection with the HTTP code and the failure kind, and its fail-open. A
// failed library call (libErr) counts as a hostError failure of every module
// of the group, handled with their failure policies as invoke handles it.
func observeModules(phase binding.Phase, op admission.Operation, g group, res *Result, libErr error) {
	typ := metrics.TypeValidating
	if phase == binding.PhaseMutating {
		typ = metrics.TypeAdmit
	}
	outcomes := res.Outcomes
	if libErr != nil {
		outcomes = nil
		for _, m := range g.modules {
			outcome := "ignored"
			if m.config.Name == res.Module {
				outcome = "error"
			} else if !m.failOpen() {
				continue // not reached: the failing module ends the call
			}
			outcomes = append(outcomes, binding.Outcome{Module: m.config.Name, Outcome: outcome, Failure: binding.FailureHostError})
		}
	}
	for _, o := range outcomes {
		m := g.byName(o.Module)
		obs := metrics.AdmissionModule{Outcome: o, Type: typ, Operation: string(op)}
		switch o.Outcome {
		case "rejected":
			obs.Rejected, obs.Code = true, 403
			if res.Module == o.Module && res.Status != nil && res.Status.Code != 0 {
				obs.Code = res.Status.Code
			}
		case "error":
			obs.Rejected, obs.Code = true, 500
		case "ignored":
			obs.FailedOpen = true
		case "overloaded":
			if m != nil && m.failOpen() {
				obs.FailedOpen = true
			} else {
				obs.Rejected, obs.Code = true, 500
			}
		}
		if obs.Rejected && m != nil && !m.denies() {
			obs.Rejected = false // Warn or Audit only: the request went on
		}
		metrics.ObserveAdmissionModule(obs)
	}
}

// passThrough logs the result's log lines, adds its warnings and audit
// annotations (keys prefixed with the module name), and records modules that
// failed open.
func (p *Plugin) passThrough(ctx context.Context, va *admission.VersionedAttributes, phase binding.Phase, round int, g group, res *Result) {
	binding.Log(binding.KindAdmission, res.Logs)
	for _, a := range res.AuditAnnotations {
		key := a.Module + "/" + a.Key
		if err := va.Attributes.AddAnnotation(key, a.Value); err != nil {
			klog.Warningf("Failed to set admission audit annotation %s to %s for kubewasm module %s: %v", key, a.Value, a.Module, err)
		}
	}
	for _, w := range res.Warnings {
		warning.AddWarning(ctx, "", w)
	}
	for _, oc := range res.Outcomes {
		if oc.Outcome != "ignored" {
			continue
		}
		m := g.byName(oc.Module)
		klog.Warningf("Failed calling kubewasm module, failing open %v: %v", oc.Module, oc.Error)
		if m == nil {
			continue
		}
		var key string
		if phase == binding.PhaseMutating {
			key = fmt.Sprintf("%sround_%d_index_%d", MutationAuditAnnotationFailedOpenKeyPrefix, round, m.id)
		} else {
			key = fmt.Sprintf("%sround_0_index_%d", ValidatingAuditAnnotationFailedOpenKeyPrefix, m.id)
		}
		if err := va.Attributes.AddAnnotation(key, oc.Module); err != nil {
			klog.Warningf("Failed to set admission audit annotation %s to %s: %v", key, oc.Module, err)
		}
	}
}

func (g group) byName(name string) *module {
	for _, m := range g.modules {
		if m.config.Name == name {
			return m
		}
	}
	return nil
}

// decisionError turns a negative result into the error the API server
// returns: a module failure with failurePolicy Fail is an internal error
// naming the module; a rejection a status error of a webhook rejection's
// shape naming the module (rejectionError), with the status the library
// gives (the library owns the default code, 403, of a module that gave none).
func decisionError(res *Result) error {
	if res.Allowed {
		return nil
	}
	name := res.Module
	if name == "" {
		name = "unknown"
	}
	if res.Error != "" {
		klog.Warningf("Failed calling kubewasm module, failing closed %v: %v", name, res.Error)
		return apierrors.NewInternalError(fmt.Errorf("failed calling kubewasm module %q: %s", name, res.Error))
	}
	return rejectionError(name, res.Status)
}

// applyPatch applies the result's patch as the mutating webhook dispatcher
// applies a webhook's JSONPatch: on the JSON of the versioned object, decoded
// into a new object of the versioned kind, defaulted.
func applyPatch(va *admission.VersionedAttributes, o admission.ObjectInterfaces, ser runtime.Serializer, objJS []byte, res *Result) (bool, error) {
	raw := bytes.TrimSpace(res.Patch)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return false, nil
	}
	name := mutatorName(res)
	patchObj, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return false, apierrors.NewInternalError(fmt.Errorf("kubewasm module %q returned an undecodable patch: %w", name, err))
	}
	if len(patchObj) == 0 {
		return false, nil
	}
	// The library owns "a patch for a request without an object": such an
	// answer is a failed call there (failurePolicy applies), so a patch
	// reaching this point has an object to apply to.
	patchedJS, err := patchObj.Apply(objJS)
	if err != nil {
		return false, apierrors.NewInternalError(fmt.Errorf("kubewasm module %q: applying patch: %w", name, err))
	}
	var newObj runtime.Object
	if _, ok := va.VersionedObject.Object().(*unstructured.Unstructured); ok {
		newObj = &unstructured.Unstructured{}
	} else if newObj, err = o.GetObjectCreater().New(va.VersionedKind); err != nil {
		return false, apierrors.NewInternalError(err)
	}
	if newObj, _, err = ser.Decode(patchedJS, nil, newObj); err != nil {
		return false, apierrors.NewInternalError(fmt.Errorf("kubewasm module %q: decoding patched object: %w", name, err))
	}
	changed := !apiequality.Semantic.DeepEqual(va.VersionedObject.Object(), newObj)
	va.UpdateObject(newObj)
	o.GetObjectDefaulter().Default(va.VersionedObject.Object())
	return changed, nil
}

// mutatorName names the modules that mutated, for messages.
func mutatorName(res *Result) string {
	var names []string
	for _, oc := range res.Outcomes {
		if oc.Outcome == "mutated" {
			names = append(names, oc.Module)
		}
	}
	if len(names) == 0 {
		return "unknown"
	}
	return strings.Join(names, ",")
}

// annotateMutations records, per called module, whether it mutated the
// object (the mutating webhook dispatcher's mutation annotation).
func (p *Plugin) annotateMutations(va *admission.VersionedAttributes, round int, g group, res *Result, changed bool) {
	for _, oc := range res.Outcomes {
		m := g.byName(oc.Module)
		if m == nil {
			continue
		}
		value, err := json.Marshal(mutating.MutationAuditAnnotation{
			Configuration: PluginName,
			Webhook:       oc.Module,
			Mutated:       changed && oc.Outcome == "mutated",
		})
		if err != nil {
			continue
		}
		key := fmt.Sprintf("%sround_%d_index_%d", MutationAuditAnnotationPrefix, round, m.id)
		if err := va.Attributes.AddAnnotation(key, string(value)); err != nil {
			klog.Warningf("Failed to set mutation annotation %s for kubewasm module %s: %v", key, oc.Module, err)
		}
	}
}

// annotatePatch records the applied patch at audit level Request.
func (p *Plugin) annotatePatch(va *admission.VersionedAttributes, round, gi int, res *Result) {
	value, err := json.Marshal(mutating.PatchAuditAnnotation{
		Configuration: PluginName,
		Webhook:       mutatorName(res),
		Patch:         res.Patch, // json.RawMessage: already JSON, not re-encoded
		PatchType:     string(admissionv1.PatchTypeJSONPatch),
	})
	if err != nil {
		return
	}
	key := fmt.Sprintf("%sround_%d", PatchAuditAnnotationPrefix, round)
	if gi > 0 {
		key = fmt.Sprintf("%s_group_%d", key, gi)
	}
	if err := va.Attributes.AddAnnotationWithLevel(key, string(value), auditinternal.LevelRequest); err != nil {
		klog.Warningf("Failed to set patch annotation %s for kubewasm modules %s", key, mutatorName(res))
	}
}

// maxCachedSerializers bounds the serializer cache: the API server passes one
// ObjectInterfaces per built-in scheme, but custom resources get their own,
// recreated when their definition changes.
const maxCachedSerializers = 64

type serializerKey struct {
	creater runtime.ObjectCreater
	typer   runtime.ObjectTyper
}

// serializer returns the JSON serializer (as the webhook dispatchers build it)
// for o's creater and typer, cached: building one marshals its options to
// compute its identifier, which costs about as much as encoding a small
// object, twice per mutating call.
func (p *Plugin) serializer(o admission.ObjectInterfaces) runtime.Serializer {
	creater, typer := o.GetObjectCreater(), o.GetObjectTyper()
	if !isComparable(creater) || !isComparable(typer) {
		return newSerializer(creater, typer)
	}
	key := serializerKey{creater, typer}
	p.serializersMu.RLock()
	ser, ok := p.serializers[key]
	p.serializersMu.RUnlock()
	if ok {
		return ser
	}
	ser = newSerializer(creater, typer)
	p.serializersMu.Lock()
	if p.serializers == nil || len(p.serializers) >= maxCachedSerializers {
		p.serializers = make(map[serializerKey]runtime.Serializer)
	}
	p.serializers[key] = ser
	p.serializersMu.Unlock()
	return ser
}

func newSerializer(creater runtime.ObjectCreater, typer runtime.ObjectTyper) runtime.Serializer {
	return jsonserializer.NewSerializerWithOptions(jsonserializer.DefaultMetaFactory, creater, typer, jsonserializer.SerializerOptions{})
}

// isComparable reports whether v can be a map key (an interface holding, say, a
// struct with a map field would panic there).
func isComparable(v any) bool {
	t := reflect.TypeOf(v)
	return t != nil && t.Comparable()
}
