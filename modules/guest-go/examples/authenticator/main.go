// Command authenticator is the Go twin of modules/magic-authenticator: the token
// "magic-token" belongs to magic-user (uid "0", group magic-group); any other token is unknown;
// a review without a token fails the call. Settings are ignored.
package main

import (
	"errors"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/kubewasm/kubewasm/modules/guest-go"
)

//go:wasmexport authn
func authn() { guest.ServeAuthn(authenticate) }

func authenticate(review *authenticationv1.TokenReview, _ guest.Settings) (authenticationv1.TokenReviewStatus, error) {
	switch review.Spec.Token {
	case "":
		return authenticationv1.TokenReviewStatus{}, errors.New("no token in request")
	case "magic-token":
		return guest.Authenticated(authenticationv1.UserInfo{
			Username: "magic-user",
			UID:      "0",
			Groups:   []string{"magic-group"},
		}), nil
	}
	return guest.Unauthenticated(), nil
}

func main() {}
