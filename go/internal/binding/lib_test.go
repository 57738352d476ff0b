//go:build cgo

package binding

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

func TestABIVersion(t *testing.T) {
	if err := Available(); err != nil {
		t.Fatal(err)
	}
}

func TestInitErrors(t *testing.T) {
	cases := []struct {
		name   string
		kind   Kind
		config string
		code   Code
		msg    string
	}{
		{"unknown field", KindAuthentication, "modules:\n- module: x.wasm\n  bogus: 1\n", CodeConfig, "bogus"},
		{"not YAML", KindAdmission, "modules: [", CodeConfig, ""},
		{"missing module file", KindAuthorization, "modules:\n- module: /nonexistent/x.wasm\n", CodeLoad, "/nonexistent/x.wasm"},
		{"bad kind", Kind(9), "modules: []", CodeInvalidArgument, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Init(tc.kind, []byte(tc.config), "")
			var e *Error
			if h != nil || !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("got %v, %v; want code %v with %q", h, err, tc.code, tc.msg)
			}
			if !errors.Is(err, &Error{Code: tc.code}) {
				t.Fatalf("errors.Is by code failed")
			}
		})
	}
}

func magic(t *testing.T) *Handle {
	cfg := fixtures.Config(t, "modules:\n- name: magic\n  module: fixture:magic-authenticator\n")
	h, err := Init(KindAuthentication, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestConcurrentCallsAndClose: many goroutines call one handle; Close waits
// for them, is idempotent, and later calls fail with ErrClosed.
func TestConcurrentCallsAndClose(t *testing.T) {
	h := magic(t)
	req := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"magic-token"}}`)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				var res struct {
					Status struct {
						Authenticated bool `json:"authenticated"`
					} `json:"status"`
				}
				err := h.Authenticate(req, 0, func(out []byte) error { return json.Unmarshal(out, &res) })
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil || !res.Status.Authenticated {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("call failed: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Authenticate(req, 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestBadRequest: input that is not JSON is an error, not a crash; an empty
// input too.
func TestBadRequest(t *testing.T) {
	h := magic(t)
	defer h.Close()
	for _, in := range [][]byte{[]byte("not json"), nil} {
		if err := h.Authenticate(in, 0, nil); err == nil {
			t.Fatalf("input %q: want an error", in)
		}
	}
}

// TestDecodeErrorFreesBuffer: a decode error is returned (and the buffer is
// freed; run under ASan/valgrind to see a leak).
func TestDecodeErrorFreesBuffer(t *testing.T) {
	h := magic(t)
	defer h.Close()
	want := errors.New("decode failed")
	err := h.Authenticate([]byte(`{"spec":{"token":"x"}}`), 0, func([]byte) error { return want })
	if !errors.Is(err, want) {
		t.Fatalf("got %v", err)
	}
}
