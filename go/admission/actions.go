package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/klog/v2"
)

// supportedValidationActions are the actions Kubernetes accepts in a
// ValidatingAdmissionPolicyBinding.
var supportedValidationActions = sets.New(admissionregistrationv1.Deny, admissionregistrationv1.Warn, admissionregistrationv1.Audit)

// validateValidationActions checks a module's validationActions as the API
// server checks a ValidatingAdmissionPolicyBinding's: a non-empty list of
// distinct supported actions, not Deny and Warn together. A nil list (the
// field is absent) is valid and defaults to [Deny].
func validateValidationActions(actions []admissionregistrationv1.ValidationAction, path *field.Path) field.ErrorList {
	if actions == nil {
		return nil
	}
	var errs field.ErrorList
	seen := sets.New[admissionregistrationv1.ValidationAction]()
	for i, a := range actions {
		if !supportedValidationActions.Has(a) {
			errs = append(errs, field.NotSupported(path.Index(i), a, sets.List(supportedValidationActions)))
		}
		if seen.Has(a) {
			errs = append(errs, field.Duplicate(path.Index(i), a))
		}
		seen.Insert(a)
	}
	if seen.Has(admissionregistrationv1.Deny) && seen.Has(admissionregistrationv1.Warn) {
		errs = append(errs, field.Invalid(path, actions, "must not contain both Deny and Warn (the client would get the same message twice)"))
	}
	if len(actions) == 0 {
		errs = append(errs, field.Required(path, "at least one validation action is required (or omit the field: the default is [Deny])"))
	}
	return errs
}

// Audit annotation of the validation failures recorded by modules whose
// validationActions include Audit. It mirrors ValidatingAdmissionPolicy's
// "validation.policy.admission.k8s.io/validation_failure": one key per
// admission phase whose value is a JSON list naming each module that said no.
// Module names go in the value, not the key, because a module name need not
// be a valid audit annotation key segment.
const (
	// ValidationFailureAuditAnnotationPrefix is the prefix of the keys.
	ValidationFailureAuditAnnotationPrefix = "validation.wasm.admission.kubewasm.io/"
	// ValidationFailureAuditAnnotationKey is the key of the validating
	// phase's failures.
	ValidationFailureAuditAnnotationKey = ValidationFailureAuditAnnotationPrefix + "validation_failure"
	// MutationValidationFailureAuditAnnotationKeyFormat is the key of a
	// mutating round's failures (round 0, then 1 for a reinvocation), with
	// the round as its %d.
	MutationValidationFailureAuditAnnotationKeyFormat = ValidationFailureAuditAnnotationPrefix + "mutation_round_%d_validation_failure"
)

// ValidationFailure is one entry of a validation-failure audit annotation,
// the analogue of ValidatingAdmissionPolicy's ValidationFailureValue.
type ValidationFailure struct {
	// Message is the module's rejection message, or the failure of a module
	// with failurePolicy Fail.
	Message string `json:"message"`
	// Module is the module's name.
	Module string `json:"module"`
	// ValidationActions are the module's actions (they include Audit).
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions"`
}

// validationFailures collects the Audit failures of one admission phase, to
// be published once under key at its end (admission annotations cannot be
// overwritten, so a phase that calls the library several times needs one
// collector).
type validationFailures struct {
	key  string
	list []ValidationFailure
}

func (f *validationFailures) add(m *module, message string) {
	if f == nil {
		return
	}
	f.list = append(f.list, ValidationFailure{Message: message, Module: m.config.Name, ValidationActions: m.config.ValidationActions})
}

// publish adds the audit annotation, if any module recorded a failure.
func (f *validationFailures) publish(attr admission.Attributes) {
	if f == nil || len(f.list) == 0 {
		return
	}
	value, err := json.Marshal(f.list)
	if err != nil {
		klog.Warningf("Failed to marshal admission audit annotation %s for kubewasm modules: %v", f.key, err)
		return
	}
	if err := attr.AddAnnotation(f.key, string(value)); err != nil {
		klog.Warningf("Failed to set admission audit annotation %s to %s for kubewasm modules: %v", f.key, value, err)
	}
}

// moduleRef names a module in messages, the way ValidatingAdmissionPolicy
// names itself ("ValidatingAdmissionPolicy 'x' with binding 'y'"): what kind
// of thing decided, its name, and the admission plugin it belongs to.
func moduleRef(name string) string {
	return fmt.Sprintf("admission module %q (%s)", name, PluginName)
}

// rejectionError is the status error of a module's rejection. It has the
// shape of a webhook rejection (webhookerrors.ToStatusErr: the module's code,
// at least 400; status Failure; the module's message or reason after the
// prefix) but names the module instead of a webhook:
// `admission module "x" (WASM) denied the request: <message>`.
func rejectionError(name string, result *metav1.Status) *apierrors.StatusError {
	status := metav1.Status{Status: metav1.StatusFailure}
	if result != nil {
		status = *result
	}
	if status.Code < http.StatusBadRequest {
		status.Code = http.StatusBadRequest
	}
	if status.Status == "" || status.Status == metav1.StatusSuccess {
		status.Status = metav1.StatusFailure
	}
	deniedBy := moduleRef(name) + " denied the request"
	switch {
	case status.Message != "":
		status.Message = deniedBy + ": " + status.Message
	case status.Reason != "":
		status.Message = deniedBy + ": " + string(status.Reason)
	default:
		status.Message = deniedBy + " without explanation"
	}
	return &apierrors.StatusError{ErrStatus: status}
}

// dryRunUnsupportedError refuses a dry-run request for a module with side
// effects: the webhooks' 400 (webhookerrors.NewDryRunUnsupportedErr), naming
// the module.
func dryRunUnsupportedError(name string) *apierrors.StatusError {
	return apierrors.NewBadRequest(moduleRef(name) + " does not support dry run")
}

// decide turns the result of one library call into the request's fate. An
// allowed result admits. Otherwise the module that said no (rejected, or
// failed with failurePolicy Fail) is the last one the library ran, and its
// validationActions apply: Warn adds a warning, Audit records a validation
// failure in failures, and only Deny returns the error (decisionError).
// Groups are formed so that a module without Deny is the last of its call
// (see group.open), so nothing is left unrun when it is overruled.
func decide(ctx context.Context, g group, res *Result, failures *validationFailures) error {
	if res.Allowed {
		return nil
	}
	m := g.byName(res.Module)
	if m == nil || m.onlyDenies() {
		return decisionError(res)
	}
	message := failureMessage(res)
	if m.actions.Has(admissionregistrationv1.Warn) {
		warning.AddWarning(ctx, "", fmt.Sprintf("Validation failed for %s: %s", moduleRef(m.config.Name), message))
	}
	if m.actions.Has(admissionregistrationv1.Audit) {
		failures.add(m, message)
	}
	if m.denies() {
		return decisionError(res)
	}
	if res.Error != "" {
		klog.Warningf("Failed calling kubewasm module %v, admitted (validationActions %v): %v", m.config.Name, m.config.ValidationActions, moduleError(res))
	}
	return nil
}

// failureMessage is the message Warn and Audit report for a result that is
// not allowed: the module's message (or reason), or its failure.
func failureMessage(res *Result) string {
	if res.Error != "" {
		return "failed calling the module: " + moduleError(res)
	}
	if res.Status != nil {
		if res.Status.Message != "" {
			return res.Status.Message
		}
		if res.Status.Reason != "" {
			return string(res.Status.Reason)
		}
	}
	return "denied the request without explanation"
}

// moduleError is the failure of the result's module as its outcome reports
// it (without the library's "module "x" failed:" prefix), else the result's
// error.
func moduleError(res *Result) string {
	for _, oc := range res.Outcomes {
		if oc.Module == res.Module && oc.Error != "" {
			return oc.Error
		}
	}
	return res.Error
}
