package authenticator

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

const secret = "s3cr3t-t0ken"

type fakeReviewer struct {
	status authenticationv1.TokenReviewStatus
	err    error
	got    authenticationv1.TokenReview
}

func (f *fakeReviewer) Authenticate(in []byte, _ time.Duration, decode binding.DecodeFunc) error {
	if err := json.Unmarshal(in, &f.got); err != nil {
		return err
	}
	if f.err != nil {
		return f.err
	}
	out, _ := json.Marshal(Result{Status: f.status, Logs: []binding.LogLine{{Level: "info", Module: "m", Message: "saw <redacted>"}}})
	return decode(out)
}

func (f *fakeReviewer) Close() error { return nil }

func TestAuthenticateToken(t *testing.T) {
	magic := authenticationv1.UserInfo{Username: "magic-user", UID: "0", Groups: []string{"magic-group"}, Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}}}
	cases := []struct {
		name      string
		ctxAuds   authenticator.Audiences
		implicit  authenticator.Audiences
		status    authenticationv1.TokenReviewStatus
		libErr    error
		wantOK    bool
		wantErr   string
		wantUser  *user.DefaultInfo
		wantAuds  authenticator.Audiences
		wantInAud []string
	}{
		{name: "authenticated", status: authenticationv1.TokenReviewStatus{Authenticated: true, User: magic}, wantOK: true,
			wantUser: &user.DefaultInfo{Name: "magic-user", UID: "0", Groups: []string{"magic-group"}, Extra: map[string][]string{"k": {"v"}}}},
		{name: "not recognised", status: authenticationv1.TokenReviewStatus{}, wantOK: false},
		// The library owns redaction: its messages come redacted and are
		// passed on unchanged.
		{name: "module error", status: authenticationv1.TokenReviewStatus{Error: "module m failed on <redacted>"}, wantErr: "module m failed on <redacted>"},
		{name: "library error", libErr: &binding.Error{Code: binding.CodeBadRequest, Message: "bad <redacted>"}, wantErr: "kubewasm: bad <redacted>"},
		{name: "audiences from status intersect", ctxAuds: authenticator.Audiences{"api", "other"}, status: authenticationv1.TokenReviewStatus{Authenticated: true, User: magic, Audiences: []string{"api"}},
			wantOK: true, wantAuds: authenticator.Audiences{"api"}, wantInAud: []string{"api", "other"}},
		{name: "audiences disjoint", ctxAuds: authenticator.Audiences{"api"}, status: authenticationv1.TokenReviewStatus{Authenticated: true, User: magic, Audiences: []string{"else"}}, wantOK: false, wantInAud: []string{"api"}},
		{name: "implicit audiences", ctxAuds: authenticator.Audiences{"api"}, implicit: authenticator.Audiences{"api"}, status: authenticationv1.TokenReviewStatus{Authenticated: true, User: magic},
			wantOK: true, wantAuds: authenticator.Audiences{"api"}, wantInAud: []string{"api"}},
		{name: "no implicit audience", ctxAuds: authenticator.Audiences{"api"}, status: authenticationv1.TokenReviewStatus{Authenticated: true, User: magic}, wantOK: false, wantInAud: []string{"api"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeReviewer{status: tc.status, err: tc.libErr}
			a := newWithReviewer(f, tc.implicit)
			ctx := context.Background()
			if tc.ctxAuds != nil {
				ctx = authenticator.WithAudiences(ctx, tc.ctxAuds)
			}
			resp, ok, err := a.AuthenticateToken(ctx, secret)
			if f.got.Spec.Token != secret || f.got.Kind != "TokenReview" || f.got.APIVersion != "authentication.k8s.io/v1" {
				t.Fatalf("TokenReview sent: %+v", f.got)
			}
			if !reflect.DeepEqual(f.got.Spec.Audiences, tc.wantInAud) {
				t.Fatalf("spec.audiences = %v, want %v", f.got.Spec.Audiences, tc.wantInAud)
			}
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error contains the token")
				}
				return
			}
			if err != nil || ok != tc.wantOK {
				t.Fatalf("ok=%v err=%v, want ok=%v", ok, err, tc.wantOK)
			}
			if !ok {
				if resp != nil {
					t.Fatalf("response for an unauthenticated token")
				}
				return
			}
			if tc.wantUser != nil && !reflect.DeepEqual(resp.User, tc.wantUser) {
				t.Fatalf("user = %#v, want %#v", resp.User, tc.wantUser)
			}
			if !reflect.DeepEqual(resp.Audiences, tc.wantAuds) {
				t.Fatalf("audiences = %v, want %v", resp.Audiences, tc.wantAuds)
			}
		})
	}
}

func TestNoCgoOrMissingFile(t *testing.T) {
	if _, err := NewFromFile("/nonexistent/authn.yaml", nil); err == nil {
		t.Fatal("want an error for a missing file")
	}
}
