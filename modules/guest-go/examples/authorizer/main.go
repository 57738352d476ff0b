// Command authorizer is the Go twin of modules/magic-authorizer: members of magic-group may
// do anything to configmaps; about everything else it has no opinion. It never denies.
// Settings are ignored.
package main

import (
	"slices"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/kubewasm/kubewasm/modules/guest-go"
)

//go:wasmexport authz
func authz() { guest.ServeAuthz(authorize) }

func authorize(review *authorizationv1.SubjectAccessReview, _ guest.Settings) (authorizationv1.SubjectAccessReviewStatus, error) {
	resource := review.Spec.ResourceAttributes
	if slices.Contains(review.Spec.Groups, "magic-group") && resource != nil && resource.Resource == "configmaps" {
		return guest.Allow(), nil
	}
	return guest.NoOpinion(), nil
}

func main() {}
