package guest

import (
	authenticationv1 "k8s.io/api/authentication/v1"
)

// Authenticator decides a TokenReview: the token is in review.Spec.Token. It returns the
// review's status (see Authenticated and Unauthenticated); an error fails the call, and a failed
// module never authenticates anyone.
type Authenticator func(review *authenticationv1.TokenReview, settings Settings) (authenticationv1.TokenReviewStatus, error)

// tokenReviewResponse is the answer to a TokenReview: apiVersion, kind and status only, so the
// token is never sent back.
type tokenReviewResponse struct {
	APIVersion string                             `json:"apiVersion"`
	Kind       string                             `json:"kind"`
	Status     authenticationv1.TokenReviewStatus `json:"status"`
}

// ServeAuthn serves one call of the `authn` export with h. Call it from the module's export:
//
//	//go:wasmexport authn
//	func authn() { guest.ServeAuthn(authenticate) }
func ServeAuthn(h Authenticator) {
	serve(stdio.in, stdio.out, func(review *authenticationv1.TokenReview, s Settings) (any, error) {
		status, err := h(review, s)
		if err != nil {
			return nil, err
		}
		return tokenReviewResponse{
			APIVersion: authenticationv1.SchemeGroupVersion.String(),
			Kind:       "TokenReview",
			Status:     status,
		}, nil
	})
}

// Authenticated is the status of a token that belongs to user.
func Authenticated(user authenticationv1.UserInfo) authenticationv1.TokenReviewStatus {
	return authenticationv1.TokenReviewStatus{Authenticated: true, User: user}
}

// Unauthenticated is the status of a token this module does not know: the next authenticator
// may still accept it.
func Unauthenticated() authenticationv1.TokenReviewStatus {
	return authenticationv1.TokenReviewStatus{Authenticated: false}
}
