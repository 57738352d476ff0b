package admission

import (
	"encoding/json"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// ModuleConfig is one module of the normalized configuration returned by
// kubewasm_modules (defaults applied by the library). Only the fields the Go
// side needs for matching and for failure handling are decoded; the
// library's document may carry more (settings, limits, digests...).
type ModuleConfig struct {
	// Name is the module's name (unique within the configuration).
	Name string `json:"name"`
	// Mutating modules run in the mutating phase, the others in the
	// validating phase.
	Mutating bool `json:"mutating,omitempty"`
	// Rules select the requests the module is called for; no rules means
	// never.
	Rules []admissionregistrationv1.RuleWithOperations `json:"rules,omitempty"`
	// NamespaceSelector as in a webhook; empty matches every namespace.
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// ObjectSelector as in a webhook; empty matches every object.
	ObjectSelector *metav1.LabelSelector `json:"objectSelector,omitempty"`
	// MatchConditions are CEL expressions, all of which must be true.
	MatchConditions []admissionregistrationv1.MatchCondition `json:"matchConditions,omitempty"`
	// MatchPolicy is Exact or Equivalent (default).
	MatchPolicy *admissionregistrationv1.MatchPolicyType `json:"matchPolicy,omitempty"`
	// ReinvocationPolicy is Never (default) or IfNeeded; mutating only.
	ReinvocationPolicy *admissionregistrationv1.ReinvocationPolicyType `json:"reinvocationPolicy,omitempty"`
	// SideEffects is None, NoneOnDryRun, Some or Unknown; dry-run requests
	// are only sent to None and NoneOnDryRun modules.
	SideEffects *admissionregistrationv1.SideEffectClass `json:"sideEffects,omitempty"`
	// FailurePolicy is Fail (default) or Ignore.
	FailurePolicy *admissionregistrationv1.FailurePolicyType `json:"failurePolicy,omitempty"`
	// ValidationActions say what the module's "no" does (a rejection, or a
	// failure with failurePolicy Fail), with ValidatingAdmissionPolicyBinding's
	// meaning: Deny (the default) rejects the request; Warn admits it and
	// returns the message to the client as a warning; Audit admits it and
	// records the message in the audit event. Deny and Audit together
	// reject and record. The module's own warnings and audit annotations,
	// and the patch of a mutating module that admits, are kept whatever the
	// actions. The library passes the field through unread: the plugin
	// validates and applies it. No omitempty: an empty list must reach the
	// validation (it is an error, unlike an absent field).
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions"`
}

// Modules is the document returned by kubewasm_modules.
type Modules struct {
	// Modules are the modules in configuration order; a module's index is
	// its id in kubewasm_admit.
	Modules []ModuleConfig `json:"modules"`
}

// AuditAnnotation is an audit annotation set by a module.
type AuditAnnotation struct {
	// Module is the module that set it; the key is prefixed with its name.
	Module string `json:"module"`
	// Key is the module's key.
	Key string `json:"key"`
	// Value is the value.
	Value string `json:"value"`
}

// Result is the library's answer to kubewasm_admit for one phase.
type Result struct {
	// Allowed is false when a module rejected the request or failed with
	// failurePolicy Fail.
	Allowed bool `json:"allowed"`
	// Status is the rejecting module's status (code, message, reason).
	Status *metav1.Status `json:"status,omitempty"`
	// Module names the rejecting or failing module.
	Module string `json:"module,omitempty"`
	// Error is set when Module failed (trap, timeout, bad output...) with
	// failurePolicy Fail.
	Error string `json:"error,omitempty"`
	// Patch is one RFC 6902 patch against the request's object combining
	// every mutation of the phase.
	Patch json.RawMessage `json:"patch,omitempty"`
	// Warnings are passed to the client.
	Warnings []string `json:"warnings,omitempty"`
	// AuditAnnotations are added to the audit event, prefixed with the
	// module name.
	AuditAnnotations []AuditAnnotation `json:"auditAnnotations,omitempty"`
	// Outcomes has one entry per module called.
	Outcomes []binding.Outcome `json:"outcomes,omitempty"`
	// Logs are the lines the modules and the library want logged.
	Logs []binding.LogLine `json:"logs,omitempty"`
}
