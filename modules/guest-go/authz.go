package guest

import (
	authorizationv1 "k8s.io/api/authorization/v1"
)

// Authorizer decides a SubjectAccessReview (who: review.Spec.User, Groups, UID, Extra; what:
// review.Spec.ResourceAttributes or NonResourceAttributes). It returns the review's status (see
// Allow, Deny and NoOpinion); an error fails the call and the module's failurePolicy applies.
type Authorizer func(review *authorizationv1.SubjectAccessReview, settings Settings) (authorizationv1.SubjectAccessReviewStatus, error)

// subjectAccessReviewResponse is the answer to a SubjectAccessReview: apiVersion, kind, status.
type subjectAccessReviewResponse struct {
	APIVersion string                                    `json:"apiVersion"`
	Kind       string                                    `json:"kind"`
	Status     authorizationv1.SubjectAccessReviewStatus `json:"status"`
}

// ServeAuthz serves one call of the `authz` export with h. Call it from the module's export:
//
//	//go:wasmexport authz
//	func authz() { guest.ServeAuthz(authorize) }
func ServeAuthz(h Authorizer) {
	serve(stdio.in, stdio.out, func(review *authorizationv1.SubjectAccessReview, s Settings) (any, error) {
		status, err := h(review, s)
		if err != nil {
			return nil, err
		}
		return subjectAccessReviewResponse{
			APIVersion: authorizationv1.SchemeGroupVersion.String(),
			Kind:       "SubjectAccessReview",
			Status:     status,
		}, nil
	})
}

// Allow is the status that allows the request.
func Allow() authorizationv1.SubjectAccessReviewStatus {
	return authorizationv1.SubjectAccessReviewStatus{Allowed: true}
}

// Deny is the status that denies the request outright, with reason: no later authorizer is
// asked.
func Deny(reason string) authorizationv1.SubjectAccessReviewStatus {
	return authorizationv1.SubjectAccessReviewStatus{Denied: true, Reason: reason}
}

// NoOpinion is the status that leaves the decision to the next authorizer.
func NoOpinion() authorizationv1.SubjectAccessReviewStatus {
	return authorizationv1.SubjectAccessReviewStatus{}
}
