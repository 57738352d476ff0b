// Package authorizer is the kube-apiserver authorizer backed by kubewasm
// modules: an authorizer.Authorizer that behaves like the webhook authorizer
// (k8s.io/apiserver/plugin/pkg/authorizer/webhook) with the
// SubjectAccessReview answered in-process by WebAssembly modules.
//
// The SubjectAccessReview is built from the request attributes as the webhook
// builds it: user, UID, groups and extra; resource attributes (namespace,
// verb, group, version, resource, subresource, name and the field and label
// selector requirements that can be expressed) or non-resource attributes
// (path, verb). The modules are consulted in order until one allows or
// denies; the status is mapped as the webhook maps it:
//
//	denied              -> Deny (with the error of a failurePolicy Deny failure, if any)
//	allowed             -> Allow (never with an error)
//	neither             -> NoOpinion (with the modules' failures as error, if any)
//
// A module answering both allowed and denied is a failed call: the library
// decides that (its failurePolicy applies) and never returns both.
//
// A library failure is NoOpinion and an error, the webhook's default
// failurePolicy.
//
// Built from a file (NewFromFile), the authorizer reloads its configuration
// when the file or a module file it names changes (go/internal/reload): a
// review in flight finishes on the configuration it started with.
package authorizer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/metrics"
	"github.com/kubewasm/kubewasm/go/internal/reload"
)

// subjectAccessReviewer is the part of binding.Handle the authorizer uses;
// tests substitute a fake.
type subjectAccessReviewer interface {
	Authorize(sar []byte, timeout time.Duration, decode binding.DecodeFunc) error
	Close() error
}

// generation is one loaded configuration: the handle and what the Go side
// derived from its module list.
type generation struct {
	reviewer subjectAccessReviewer
	// failClosed names the modules with failurePolicy Deny: their failures
	// deny; every other module's failure is a fail-open (NoOpinion).
	failClosed map[string]bool
}

func closeGeneration(g *generation) error { return g.reviewer.Close() }

// newGeneration derives the generation of a reviewer: the failure policies,
// when the reviewer can list its modules (a binding handle can).
func newGeneration(r subjectAccessReviewer) (*generation, error) {
	g := &generation{reviewer: r, failClosed: map[string]bool{}}
	lister, ok := r.(interface {
		Modules(decode binding.DecodeFunc) error
	})
	if !ok {
		return g, nil
	}
	var mods struct {
		Modules []struct {
			Name          string `json:"name"`
			FailurePolicy string `json:"failurePolicy"`
		} `json:"modules"`
	}
	if err := lister.Modules(func(out []byte) error { return json.Unmarshal(out, &mods) }); err != nil {
		return nil, fmt.Errorf("reading module list: %w", err)
	}
	for _, m := range mods.Modules {
		if m.FailurePolicy == "Deny" {
			g.failClosed[m.Name] = true
		}
	}
	return g, nil
}

// Status is the SubjectAccessReview status as returned by the library.
type Status struct {
	// Allowed is true when a module allowed the request.
	Allowed bool `json:"allowed"`
	// Denied is true when a module denied the request (or failed with
	// failurePolicy Deny).
	Denied bool `json:"denied,omitempty"`
	// Reason is the deciding module's reason.
	Reason string `json:"reason,omitempty"`
	// EvaluationError describes module failures.
	EvaluationError string `json:"evaluationError,omitempty"`
}

// Result is the library's answer to kubewasm_authorize.
type Result struct {
	// Status is the decision.
	Status Status `json:"status"`
	// Outcomes has one entry per module called.
	Outcomes []binding.Outcome `json:"outcomes,omitempty"`
	// Logs are the lines the modules and the library want logged.
	Logs []binding.LogLine `json:"logs,omitempty"`
}

// authorizerFunc is an unexported alias so that Authorizer can embed it
// without exporting a field. Embedding it gives Authorizer whatever methods
// the pinned release's authorizer.AuthorizerFunc has beyond Authorize (in
// 1.37: ConditionsAwareAuthorize and EvaluateConditions, answered as an
// unconditional authorizer), so the same code compiles against 1.36 and 1.37.
type authorizerFunc = authorizer.AuthorizerFunc

// Authorizer is an authorizer.Authorizer and authorizer.RuleResolver backed
// by kubewasm authorization modules. It is safe for concurrent use.
type Authorizer struct {
	authorizerFunc
	// gens holds the loaded configuration; every review acquires it.
	gens    *reload.Holder[*generation]
	watcher *reload.Watcher[*generation] // nil unless built from a file
}

var (
	_ authorizer.Authorizer   = &Authorizer{}
	_ authorizer.RuleResolver = &Authorizer{}
)

// NewFromFile loads the authorization configuration file at path (YAML or
// JSON; relative module paths resolve against the file's directory) and
// compiles its modules. The authorizer watches the file and the module files
// it names and reloads the configuration when they change (every
// $KUBEWASM_CONFIG_RELOAD_INTERVAL, default 5s).
func NewFromFile(path string) (*Authorizer, error) {
	load := func() (*generation, []string, error) {
		h, files, err := reload.LoadFile(binding.KindAuthorization, path)
		if err != nil {
			return nil, nil, err
		}
		g, err := newGeneration(h)
		if err != nil {
			_ = h.Close()
			return nil, nil, fmt.Errorf("authorization configuration %s: %w", path, err)
		}
		return g, files, nil
	}
	g, files, err := load()
	if err != nil {
		return nil, fmt.Errorf("kubewasm: %w", err)
	}
	metrics.Register()
	a := newWithGeneration(g)
	a.watcher = reload.NewWatcher(binding.KindAuthorization.String(), path, files, a.gens, load, reload.Interval())
	a.watcher.Start()
	return a, nil
}

// New builds an authorizer from configuration bytes (YAML or JSON). Relative
// module paths resolve against baseDir.
func New(config []byte, baseDir string) (*Authorizer, error) {
	h, err := binding.Init(binding.KindAuthorization, config, baseDir)
	if err != nil {
		return nil, err
	}
	g, err := newGeneration(h)
	if err != nil {
		_ = h.Close()
		return nil, err
	}
	metrics.Register()
	return newWithGeneration(g), nil
}

// newWithReviewer builds an authorizer on a reviewer (tests use a fake).
func newWithReviewer(r subjectAccessReviewer) *Authorizer {
	g, err := newGeneration(r)
	if err != nil {
		g = &generation{reviewer: r}
	}
	return newWithGeneration(g)
}

func newWithGeneration(g *generation) *Authorizer {
	a := &Authorizer{gens: reload.NewHolder(g, closeGeneration)}
	a.authorizerFunc = a.Authorize
	return a
}

// Close stops watching the configuration and releases the modules once the
// reviews in flight are done. Calls after Close fail (NoOpinion and an
// error).
func (a *Authorizer) Close() error {
	if a.watcher != nil {
		a.watcher.Stop()
	}
	return a.gens.Close()
}

// Authorize implements authorizer.Authorizer.
func (a *Authorizer) Authorize(ctx context.Context, attr authorizer.Attributes) (authorizer.Decision, string, error) {
	status, err := a.Review(ctx, SubjectAccessReviewFor(attr))
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	return Decide(status)
}

// Review sends a SubjectAccessReview to the modules and returns the status
// they decided. The CLI uses it directly.
func (a *Authorizer) Review(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*Status, error) {
	in, err := json.Marshal(sar)
	if err != nil {
		return nil, fmt.Errorf("kubewasm: encoding SubjectAccessReview: %w", err)
	}
	g := a.gens.Acquire()
	if g == nil {
		return nil, binding.ErrClosed
	}
	defer g.Release()
	var res Result
	start := time.Now()
	err = g.Value.reviewer.Authorize(in, binding.TimeoutFrom(ctx), func(out []byte) error {
		metrics.ObserveCall(binding.KindAuthorization, start)
		var err error
		res, err = decodeResult(out)
		return err
	})
	if err != nil {
		metrics.ObserveError(binding.KindAuthorization, err)
		return nil, err
	}
	metrics.ObserveOutcomes(binding.KindAuthorization, res.Outcomes)
	for _, o := range res.Outcomes {
		metrics.ObserveAuthorizationModule(o, !g.Value.failClosed[o.Module])
	}
	binding.Log(binding.KindAuthorization, res.Logs)
	return &res.Status, nil
}

// Decide maps a status to a decision as the webhook authorizer does; it never
// returns Allow with an error. The library never sets both Allowed and Denied
// (a module answering both is a failed call, handled by its failurePolicy:
// docs/abi.md), so Denied alone decides a deny.
func Decide(s *Status) (authorizer.Decision, string, error) {
	var evalErr error
	if s.EvaluationError != "" {
		evalErr = errors.New(s.EvaluationError)
	}
	switch {
	case s.Denied:
		return authorizer.DecisionDeny, s.Reason, evalErr
	case s.Allowed:
		return authorizer.DecisionAllow, s.Reason, nil
	default:
		return authorizer.DecisionNoOpinion, s.Reason, evalErr
	}
}

// RulesFor implements authorizer.RuleResolver like the webhook authorizer:
// rules cannot be listed, so the answer is empty and incomplete.
func (a *Authorizer) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	return nil, nil, true, fmt.Errorf("kubewasm authorizer does not support user rule resolution")
}

// SubjectAccessReviewFor builds the SubjectAccessReview for the attributes as
// the webhook authorizer does.
func SubjectAccessReviewFor(attr authorizer.Attributes) *authorizationv1.SubjectAccessReview {
	r := &authorizationv1.SubjectAccessReview{
		TypeMeta: metav1.TypeMeta{APIVersion: authorizationv1.SchemeGroupVersion.String(), Kind: "SubjectAccessReview"},
	}
	if u := attr.GetUser(); u != nil {
		r.Spec = authorizationv1.SubjectAccessReviewSpec{
			User:   u.GetName(),
			UID:    u.GetUID(),
			Groups: u.GetGroups(),
			Extra:  convertToSARExtra(u.GetExtra()),
		}
	}
	if attr.IsResourceRequest() {
		r.Spec.ResourceAttributes = resourceAttributesFrom(attr)
	} else {
		r.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{
			Path: attr.GetPath(),
			Verb: attr.GetVerb(),
		}
	}
	return r
}

// The helpers below mirror unexported functions of
// k8s.io/apiserver/plugin/pkg/authorizer/webhook (webhook.go) at the pinned
// release; keep them in step.

func resourceAttributesFrom(attr authorizer.Attributes) *authorizationv1.ResourceAttributes {
	ret := &authorizationv1.ResourceAttributes{
		Namespace:   attr.GetNamespace(),
		Verb:        attr.GetVerb(),
		Group:       attr.GetAPIGroup(),
		Version:     attr.GetAPIVersion(),
		Resource:    attr.GetResource(),
		Subresource: attr.GetSubresource(),
		Name:        attr.GetName(),
	}
	// Selectors only narrow a request, so requirements that could be parsed
	// are used even when parsing failed elsewhere.
	if reqs := fieldSelectorToAuthorizationAPI(attr); len(reqs) > 0 {
		ret.FieldSelector = &authorizationv1.FieldSelectorAttributes{Requirements: reqs}
	}
	if reqs := labelSelectorToAuthorizationAPI(attr); len(reqs) > 0 {
		ret.LabelSelector = &authorizationv1.LabelSelectorAttributes{Requirements: reqs}
	}
	return ret
}

func fieldSelectorToAuthorizationAPI(attr authorizer.Attributes) []metav1.FieldSelectorRequirement {
	requirements, _ := attr.GetFieldSelector()
	var ret []metav1.FieldSelectorRequirement
	for _, r := range requirements {
		switch r.Operator {
		case selection.Equals, selection.DoubleEquals, selection.In:
			ret = append(ret, metav1.FieldSelectorRequirement{Key: r.Field, Operator: metav1.FieldSelectorOpIn, Values: []string{r.Value}})
		case selection.NotEquals, selection.NotIn:
			ret = append(ret, metav1.FieldSelectorRequirement{Key: r.Field, Operator: metav1.FieldSelectorOpNotIn, Values: []string{r.Value}})
		default:
			// Requirements are ANDed: dropping an unknown one only broadens
			// the check.
		}
	}
	return ret
}

func labelSelectorToAuthorizationAPI(attr authorizer.Attributes) []metav1.LabelSelectorRequirement {
	requirements, _ := attr.GetLabelSelector()
	var ret []metav1.LabelSelectorRequirement
	for _, r := range requirements {
		req := metav1.LabelSelectorRequirement{Key: r.Key()}
		if values := r.ValuesUnsorted(); len(values) > 0 {
			req.Values = values
		}
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			req.Operator = metav1.LabelSelectorOpIn
		case selection.NotEquals, selection.NotIn:
			req.Operator = metav1.LabelSelectorOpNotIn
		case selection.Exists:
			req.Operator = metav1.LabelSelectorOpExists
		case selection.DoesNotExist:
			req.Operator = metav1.LabelSelectorOpDoesNotExist
		default:
			continue
		}
		ret = append(ret, req)
	}
	return ret
}

func convertToSARExtra(extra map[string][]string) map[string]authorizationv1.ExtraValue {
	if extra == nil {
		return nil
	}
	ret := make(map[string]authorizationv1.ExtraValue, len(extra))
	for k, v := range extra {
		ret[k] = authorizationv1.ExtraValue(v)
	}
	return ret
}
