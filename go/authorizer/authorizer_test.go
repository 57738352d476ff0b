package authorizer

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

type fakeReviewer struct {
	status Status
	err    error
	got    authorizationv1.SubjectAccessReview
}

func (f *fakeReviewer) Authorize(in []byte, _ time.Duration, decode binding.DecodeFunc) error {
	if err := json.Unmarshal(in, &f.got); err != nil {
		return err
	}
	if f.err != nil {
		return f.err
	}
	out, _ := json.Marshal(Result{Status: f.status})
	return decode(out)
}

func (f *fakeReviewer) Close() error { return nil }

func TestDecisions(t *testing.T) {
	cases := []struct {
		name    string
		status  Status
		libErr  error
		want    authorizer.Decision
		wantErr bool
		wantRsn string
	}{
		{"allowed", Status{Allowed: true, Reason: "magic"}, nil, authorizer.DecisionAllow, false, "magic"},
		{"denied", Status{Denied: true, Reason: "no"}, nil, authorizer.DecisionDeny, false, "no"},
		{"denied by failure (failurePolicy Deny)", Status{Denied: true, EvaluationError: "module m: trap"}, nil, authorizer.DecisionDeny, true, ""},
		{"no opinion", Status{}, nil, authorizer.DecisionNoOpinion, false, ""},
		{"no opinion with failures", Status{EvaluationError: "module m: timeout"}, nil, authorizer.DecisionNoOpinion, true, ""},
		{"allowed despite an evaluation error is still allow without error", Status{Allowed: true, EvaluationError: "earlier module failed"}, nil, authorizer.DecisionAllow, false, ""},
		{"library error", Status{}, &binding.Error{Code: binding.CodePanic, Message: "boom"}, authorizer.DecisionNoOpinion, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newWithReviewer(&fakeReviewer{status: tc.status, err: tc.libErr})
			d, reason, err := a.Authorize(context.Background(), authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Verb: "get", Path: "/healthz"})
			if d != tc.want || (err != nil) != tc.wantErr || reason != tc.wantRsn {
				t.Fatalf("got (%v, %q, %v), want (%v, %q, err=%v)", d, reason, err, tc.want, tc.wantRsn, tc.wantErr)
			}
			if d == authorizer.DecisionAllow && err != nil {
				t.Fatalf("Allow with an error")
			}
		})
	}
}

func TestSubjectAccessReviewFor(t *testing.T) {
	fieldSel, _ := fields.ParseSelector("metadata.name=foo,spec.nodeName!=bar")
	labelSel, _ := labels.Parse("app in (a,b),!gone,tier")
	u := &user.DefaultInfo{Name: "alice", UID: "1", Groups: []string{"g"}, Extra: map[string][]string{"scopes": {"x"}}}
	cases := []struct {
		name string
		attr authorizer.AttributesRecord
		want authorizationv1.SubjectAccessReviewSpec
	}{
		{"resource", authorizer.AttributesRecord{User: u, Verb: "list", Namespace: "ns", APIGroup: "apps", APIVersion: "v1", Resource: "deployments", Subresource: "scale", Name: "d", ResourceRequest: true},
			authorizationv1.SubjectAccessReviewSpec{User: "alice", UID: "1", Groups: []string{"g"}, Extra: map[string]authorizationv1.ExtraValue{"scopes": {"x"}},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "ns", Verb: "list", Group: "apps", Version: "v1", Resource: "deployments", Subresource: "scale", Name: "d"}}},
		{"non-resource", authorizer.AttributesRecord{User: u, Verb: "get", Path: "/metrics"},
			authorizationv1.SubjectAccessReviewSpec{User: "alice", UID: "1", Groups: []string{"g"}, Extra: map[string]authorizationv1.ExtraValue{"scopes": {"x"}},
				NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}}},
		{"selectors", authorizer.AttributesRecord{User: u, Verb: "list", Resource: "pods", APIVersion: "v1", ResourceRequest: true,
			FieldSelectorRequirements: fieldSel.Requirements(), LabelSelectorRequirements: mustReqs(labelSel)},
			authorizationv1.SubjectAccessReviewSpec{User: "alice", UID: "1", Groups: []string{"g"}, Extra: map[string]authorizationv1.ExtraValue{"scopes": {"x"}},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Version: "v1", Resource: "pods",
					FieldSelector: &authorizationv1.FieldSelectorAttributes{Requirements: []metav1.FieldSelectorRequirement{
						{Key: "metadata.name", Operator: metav1.FieldSelectorOpIn, Values: []string{"foo"}},
						{Key: "spec.nodeName", Operator: metav1.FieldSelectorOpNotIn, Values: []string{"bar"}}}},
					LabelSelector: &authorizationv1.LabelSelectorAttributes{Requirements: []metav1.LabelSelectorRequirement{
						{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}},
						{Key: "gone", Operator: metav1.LabelSelectorOpDoesNotExist},
						{Key: "tier", Operator: metav1.LabelSelectorOpExists}}}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeReviewer{}
			a := newWithReviewer(f)
			if _, _, err := a.Authorize(context.Background(), tc.attr); err != nil {
				t.Fatal(err)
			}
			if f.got.Kind != "SubjectAccessReview" || f.got.APIVersion != "authorization.k8s.io/v1" {
				t.Fatalf("type meta %+v", f.got.TypeMeta)
			}
			if !reflect.DeepEqual(f.got.Spec, tc.want) {
				t.Fatalf("spec\n got %+v\nwant %+v", f.got.Spec, tc.want)
			}
		})
	}
}

func mustReqs(s labels.Selector) labels.Requirements {
	r, _ := s.Requirements()
	return r
}

func TestRulesForIsIncomplete(t *testing.T) {
	a := newWithReviewer(&fakeReviewer{})
	_, _, incomplete, err := a.RulesFor(context.Background(), &user.DefaultInfo{Name: "u"}, "ns")
	if !incomplete || err == nil {
		t.Fatalf("want incomplete with an error, got %v %v", incomplete, err)
	}
}

// TestConditionsAware: the embedded AuthorizerFunc answers the 1.37
// conditions-aware entry point with the same decision.
func TestConditionsAware(t *testing.T) {
	a := newWithReviewer(&fakeReviewer{status: Status{Allowed: true}})
	var az authorizer.Authorizer = a
	d := az.ConditionsAwareAuthorize(context.Background(), authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Verb: "get", Path: "/"})
	if !d.IsAllow() {
		t.Fatalf("want allowed, got %+v", d)
	}
}

// listingReviewer is a fakeReviewer that also lists its modules, as a
// binding handle does.
type listingReviewer struct {
	fakeReviewer
	modules string
}

func (l *listingReviewer) Modules(decode binding.DecodeFunc) error { return decode([]byte(l.modules)) }

// TestFailurePoliciesFromModuleList: a generation knows which modules fail
// closed (failurePolicy Deny); every other module's failure is a fail-open.
func TestFailurePoliciesFromModuleList(t *testing.T) {
	r := &listingReviewer{modules: `{"kind":"authorization","modules":[{"name":"strict","failurePolicy":"Deny"},{"name":"lenient","failurePolicy":"NoOpinion"}]}`}
	g, err := newGeneration(r)
	if err != nil {
		t.Fatal(err)
	}
	if !g.failClosed["strict"] || g.failClosed["lenient"] || len(g.failClosed) != 1 {
		t.Fatalf("failClosed = %v, want only strict", g.failClosed)
	}
	if _, err := newGeneration(&listingReviewer{modules: "not json"}); err == nil {
		t.Fatal("an unreadable module list must be an error")
	}
}
