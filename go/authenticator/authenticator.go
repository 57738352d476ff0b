// Package authenticator is the kube-apiserver token authenticator backed by
// kubewasm modules: an authenticator.Token that behaves like the token
// webhook authenticator (k8s.io/apiserver/plugin/pkg/authenticator/token/webhook)
// with the TokenReview answered in-process by WebAssembly modules.
//
// The TokenReview is built as the webhook builds it (spec.token and the
// audiences of the request context), the modules are consulted in order until
// one authenticates, and the result is mapped as the webhook maps it:
//
//   - if the context carries audiences, the result's status.audiences (or,
//     when the module returns none, the API server's implicit audiences) are
//     intersected with them; an empty intersection is "not authenticated";
//   - status.authenticated=false without status.error is (nil, false, nil), so
//     that the next authenticator (or anonymous) gets its turn;
//   - status.authenticated=false with status.error, or a library failure, is an
//     error;
//   - the user is a user.DefaultInfo with name, UID, groups and extra.
//
// The bearer token never appears in an error or a log line written by this
// package: the library owns redaction (it replaces the token, and its JSON
// form, with "<redacted>" in every message, status and log line it returns,
// and refuses a user that contains it), and this package adds no text of the
// token's.
//
// Built from a file (NewFromFile), the authenticator reloads its
// configuration when the file or a module file it names changes
// (go/internal/reload): a token review in flight finishes on the
// configuration it started with.
package authenticator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kubewasm/kubewasm/go/internal/binding"
	"github.com/kubewasm/kubewasm/go/internal/metrics"
	"github.com/kubewasm/kubewasm/go/internal/reload"
)

// tokenReviewer is the part of binding.Handle the authenticator uses; tests
// substitute a fake.
type tokenReviewer interface {
	Authenticate(tokenReview []byte, timeout time.Duration, decode binding.DecodeFunc) error
	Close() error
}

// Result is the library's answer to kubewasm_authenticate.
type Result struct {
	// Status is the TokenReview status decided by the modules.
	Status authenticationv1.TokenReviewStatus `json:"status"`
	// Outcomes has one entry per module called.
	Outcomes []binding.Outcome `json:"outcomes,omitempty"`
	// Logs are the lines the modules and the library want logged.
	Logs []binding.LogLine `json:"logs,omitempty"`
}

// Authenticator is an authenticator.Token backed by kubewasm authentication
// modules. It is safe for concurrent use.
type Authenticator struct {
	// gens holds the loaded configuration; every review acquires it.
	gens         *reload.Holder[tokenReviewer]
	watcher      *reload.Watcher[tokenReviewer] // nil unless built from a file
	implicitAuds authenticator.Audiences
}

var _ authenticator.Token = &Authenticator{}

// NewFromFile loads the authentication configuration file at path (YAML or
// JSON; relative module paths resolve against the file's directory), compiles
// its modules and returns the authenticator. implicitAudiences are the API
// server's audiences (--api-audiences), used when a module's answer names no
// audience, as for the token webhook. The authenticator watches the file and
// the module files it names and reloads the configuration when they change
// (every $KUBEWASM_CONFIG_RELOAD_INTERVAL, default 5s).
func NewFromFile(path string, implicitAudiences authenticator.Audiences) (authenticator.Token, error) {
	a, err := NewAuthenticatorFromFile(path, implicitAudiences)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// NewAuthenticatorFromFile is NewFromFile returning the concrete type, which
// has Close.
func NewAuthenticatorFromFile(path string, implicitAudiences authenticator.Audiences) (*Authenticator, error) {
	h, files, err := reload.LoadFile(binding.KindAuthentication, path)
	if err != nil {
		return nil, fmt.Errorf("kubewasm: %w", err)
	}
	metrics.Register()
	a := newWithReviewer(h, implicitAudiences)
	load := func() (tokenReviewer, []string, error) {
		h, files, err := reload.LoadFile(binding.KindAuthentication, path)
		if err != nil {
			return nil, nil, err
		}
		return h, files, nil
	}
	a.watcher = reload.NewWatcher(binding.KindAuthentication.String(), path, files, a.gens, load, reload.Interval())
	a.watcher.Start()
	return a, nil
}

// New builds an authenticator from configuration bytes (YAML or JSON).
// Relative module paths resolve against baseDir.
func New(config []byte, baseDir string, implicitAudiences authenticator.Audiences) (*Authenticator, error) {
	h, err := binding.Init(binding.KindAuthentication, config, baseDir)
	if err != nil {
		return nil, err
	}
	metrics.Register()
	return newWithReviewer(h, implicitAudiences), nil
}

func newWithReviewer(r tokenReviewer, implicitAudiences authenticator.Audiences) *Authenticator {
	return &Authenticator{gens: reload.NewHolder(r, tokenReviewer.Close), implicitAuds: implicitAudiences}
}

// Close stops watching the configuration and releases the modules once the
// reviews in flight are done. Calls after Close fail.
func (a *Authenticator) Close() error {
	if a.watcher != nil {
		a.watcher.Stop()
	}
	return a.gens.Close()
}

// AuthenticateToken implements authenticator.Token.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	status, err := a.Review(ctx, token)
	if err != nil {
		return nil, false, err
	}
	return a.mapStatus(ctx, status)
}

// Review sends the TokenReview for token (with the context's audiences) to
// the modules and returns the resulting status, unmapped; the library has
// redacted the token from its messages and logs. The CLI uses it
// to print the status as the modules decided it.
func (a *Authenticator) Review(ctx context.Context, token string) (*authenticationv1.TokenReviewStatus, error) {
	wantAuds, _ := authenticator.AudiencesFrom(ctx)
	review := authenticationv1.TokenReview{
		TypeMeta: metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenReview"},
		Spec: authenticationv1.TokenReviewSpec{
			Token:     token,
			Audiences: wantAuds,
		},
	}
	in, err := json.Marshal(&review)
	if err != nil {
		return nil, fmt.Errorf("kubewasm: encoding TokenReview: %w", err)
	}
	g := a.gens.Acquire()
	if g == nil {
		return nil, binding.ErrClosed
	}
	defer g.Release()
	var res Result
	start := time.Now()
	err = g.Value.Authenticate(in, binding.TimeoutFrom(ctx), func(out []byte) error {
		metrics.ObserveCall(binding.KindAuthentication, start)
		var err error
		res, err = decodeResult(out)
		return err
	})
	if err != nil {
		metrics.ObserveError(binding.KindAuthentication, err)
		return nil, err
	}
	metrics.ObserveOutcomes(binding.KindAuthentication, res.Outcomes)
	binding.Log(binding.KindAuthentication, res.Logs)
	return &res.Status, nil
}

// mapStatus maps a TokenReview status as the token webhook authenticator does.
func (a *Authenticator) mapStatus(ctx context.Context, status *authenticationv1.TokenReviewStatus) (*authenticator.Response, bool, error) {
	wantAuds, checkAuds := authenticator.AudiencesFrom(ctx)
	var auds authenticator.Audiences
	if checkAuds {
		gotAuds := a.implicitAuds
		if len(status.Audiences) > 0 {
			gotAuds = status.Audiences
		}
		auds = wantAuds.Intersect(gotAuds)
		if len(auds) == 0 {
			return nil, false, nil
		}
	}
	if !status.Authenticated {
		var err error
		if len(status.Error) != 0 {
			err = errors.New(status.Error)
		}
		return nil, false, err
	}
	var extra map[string][]string
	if status.User.Extra != nil {
		extra = make(map[string][]string, len(status.User.Extra))
		for k, v := range status.User.Extra {
			extra[k] = v
		}
	}
	return &authenticator.Response{
		User: &user.DefaultInfo{
			Name:   status.User.Username,
			UID:    status.User.UID,
			Groups: status.User.Groups,
			Extra:  extra,
		},
		Audiences: auds,
	}, true, nil
}
