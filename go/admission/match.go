package admission

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/generic"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/predicates/rules"
	"k8s.io/klog/v2"
)

// versionedAttributeAccessor converts the attributes to the kinds modules are
// called with, lazily and at most once per kind change (as the webhook
// dispatchers do).
type versionedAttributeAccessor struct {
	versionedAttr    *admission.VersionedAttributes
	attr             admission.Attributes
	objectInterfaces admission.ObjectInterfaces
}

var _ generic.VersionedAttributeAccessor = &versionedAttributeAccessor{}

// VersionedAttribute implements generic.VersionedAttributeAccessor.
func (v *versionedAttributeAccessor) VersionedAttribute(gvk schema.GroupVersionKind) (*admission.VersionedAttributes, error) {
	if v.versionedAttr == nil {
		va, err := admission.NewVersionedAttributes(v.attr, gvk, v.objectInterfaces)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		v.versionedAttr = va
		return va, nil
	}
	if err := admission.ConvertVersionedAttributes(v.versionedAttr, gvk, v.objectInterfaces); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return v.versionedAttr, nil
}

// shouldCall decides whether module m is called for the request, in the order
// and with the matchers of generic.(*Webhook).ShouldCallHook at the pinned
// release: namespaceSelector, objectSelector, rules, matchPolicy Equivalent,
// matchConditions. It returns nil when the module is not called.
func (p *Plugin) shouldCall(ctx context.Context, m *module, attr admission.Attributes, o admission.ObjectInterfaces, v generic.VersionedAttributeAccessor) (*generic.WebhookInvocation, *apierrors.StatusError) {
	h := m.accessor
	matches, matchNsErr := p.namespaceMatcher.MatchNamespaceSelector(h, attr)
	if !matches && matchNsErr == nil {
		return nil, nil
	}
	matches, matchObjErr := p.objectMatcher.MatchObjectSelector(h, attr)
	if !matches && matchObjErr == nil {
		return nil, nil
	}

	var invocation *generic.WebhookInvocation
	for _, r := range h.GetRules() {
		if (&rules.Matcher{Rule: r, Attr: attr}).Matches() {
			invocation = &generic.WebhookInvocation{
				Webhook:     h,
				Resource:    attr.GetResource(),
				Subresource: attr.GetSubresource(),
				Kind:        attr.GetKind(),
			}
			break
		}
	}
	if invocation == nil && h.GetMatchPolicy() != nil && *h.GetMatchPolicy() == admissionregistrationv1.Equivalent && o != nil && o.GetEquivalentResourceMapper() != nil {
		mapper := o.GetEquivalentResourceMapper()
		override := &attrWithResourceOverride{Attributes: attr}
		equivalents := mapper.EquivalentResourcesFor(attr.GetResource(), attr.GetSubresource())
	outer:
		for _, r := range h.GetRules() {
			for _, equivalent := range equivalents {
				if equivalent == attr.GetResource() {
					continue
				}
				override.resource = equivalent
				if (&rules.Matcher{Rule: r, Attr: override}).Matches() {
					kind := mapper.KindFor(equivalent, attr.GetSubresource())
					if kind.Empty() {
						return nil, apierrors.NewInternalError(fmt.Errorf("unable to convert to %v: unknown kind", equivalent))
					}
					invocation = &generic.WebhookInvocation{
						Webhook:     h,
						Resource:    equivalent,
						Subresource: attr.GetSubresource(),
						Kind:        kind,
					}
					break outer
				}
			}
		}
	}
	if invocation == nil {
		return nil, nil
	}
	if matchNsErr != nil {
		return nil, matchNsErr
	}
	if matchObjErr != nil {
		return nil, matchObjErr
	}
	if len(h.GetMatchConditions()) > 0 {
		va, err := v.VersionedAttribute(invocation.Kind)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		result := h.GetCompiledMatcher(p.compiler()).Match(ctx, va, nil, p.authorizer)
		if result.Error != nil {
			klog.Warningf("Failed evaluating match conditions of kubewasm module %q, failing closed: %v", h.GetName(), result.Error)
			return nil, apierrors.NewForbidden(attr.GetResource().GroupResource(), attr.GetName(), result.Error)
		}
		if !result.Matches {
			return nil, nil
		}
	}
	return invocation, nil
}

type attrWithResourceOverride struct {
	admission.Attributes
	resource schema.GroupVersionResource
}

func (a *attrWithResourceOverride) GetResource() schema.GroupVersionResource { return a.resource }
