//go:build cgo

package binding

// Go native fuzzing of the binding's inputs (issue 9, item 4): configurations,
// TokenReviews, SubjectAccessReviews and AdmissionRequests with arbitrary
// bytes, kinds, phases, module ids and timeouts go through the binding and
// the library. Nothing may crash or panic; every failure must be an *Error
// with a library code (never PANIC); every output must be JSON.
//
// `go test` runs the seeds below as ordinary tests; `make test` also fuzzes
// each target for a few seconds and `make fuzz` for longer (mk/fuzz.mk).

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

// fuzzHandles are created once per fuzzing process and shared by the calls.
var fuzzHandles struct {
	once                    sync.Once
	err                     error
	authn, authz, admission *Handle
}

func fuzzSetup(f testing.TB) (authn, authz, admission *Handle) {
	f.Helper()
	fuzzHandles.once.Do(func() {
		init := func(kind Kind, cfg string) *Handle {
			h, err := Init(kind, fixtures.Config(f, cfg), "")
			if err != nil && fuzzHandles.err == nil {
				fuzzHandles.err = err
			}
			return h
		}
		fuzzHandles.authn = init(KindAuthentication, "modules:\n- module: fixture:magic-authenticator\n")
		fuzzHandles.authz = init(KindAuthorization, "modules:\n- module: fixture:magic-authorizer\n")
		fuzzHandles.admission = init(KindAdmission, "modules:\n"+
			"- module: fixture:magic-mutator\n  mutating: true\n"+
			"- module: fixture:magic-validator\n"+
			"- module: fixture:json-patch-mutator\n  mutating: true\n")
	})
	if fuzzHandles.err != nil {
		f.Fatalf("fixture handles: %v", fuzzHandles.err)
	}
	return fuzzHandles.authn, fuzzHandles.authz, fuzzHandles.admission
}

// checkCall fails the test on anything but success with JSON output or a
// library error with a known, non-panic code.
func checkCall(t *testing.T, err error, out []byte) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("not a library error: %v", err)
		}
		if e.Code < CodeInvalidArgument || e.Code > CodeInternal || e.Code == CodePanic {
			t.Fatalf("error code %v: %s", e.Code, e.Message)
		}
		return
	}
	if !json.Valid(out) {
		t.Fatalf("output is not JSON: %q", out)
	}
}

// decodeInto keeps a copy of the output (the slice aliases library memory
// that is freed when decode returns).
func decodeInto(dst *[]byte) DecodeFunc {
	return func(out []byte) error {
		*dst = append((*dst)[:0], out...)
		return nil
	}
}

func readTestdata(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzInit: arbitrary configurations of arbitrary kinds. Relative module
// paths resolve against a folder that does not exist, so nothing compiles.
func FuzzInit(f *testing.F) {
	for _, name := range []string{"admission.yaml", "authentication.yaml", "authorization.yaml"} {
		for kind := uint32(0); kind <= 4; kind++ {
			f.Add(kind, readTestdata(f, name))
		}
	}
	f.Add(uint32(3), []byte(`{"modules":[{"module":"x.wasm","timeout":"1s","memoryLimit":"16Mi","failurePolicy":"Ignore"}]}`))
	f.Add(uint32(1), []byte("modules:\n- module: x.wasm\n  settings: {a: [1, 2, {b: null}]}\n"))
	f.Add(uint32(2), []byte("modules: [\n"))
	f.Add(uint32(3), []byte{0xff, 0xfe, 0})
	f.Fuzz(func(t *testing.T, kind uint32, config []byte) {
		h, err := Init(Kind(kind), config, "/nonexistent/kubewasm-fuzz")
		if err != nil {
			checkCall(t, err, nil)
			return
		}
		var out []byte
		err = h.Modules(decodeInto(&out))
		checkCall(t, err, out)
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzAuthenticate: arbitrary TokenReviews and timeouts.
func FuzzAuthenticate(f *testing.F) {
	f.Add(readTestdata(f, "tokenreview.json"), int64(0))
	f.Add([]byte(`{"spec":{"token":"magic-token"}}`), int64(1))
	f.Add([]byte(`{"spec":{"token":"other","audiences":["x"]}}`), int64(time.Second))
	f.Add([]byte(`{"spec":null}`), int64(-1))
	f.Add([]byte(`[]`), int64(0))
	f.Fuzz(func(t *testing.T, review []byte, timeout int64) {
		authn, _, _ := fuzzSetup(t)
		var out []byte
		checkCall(t, authn.Authenticate(review, time.Duration(timeout), decodeInto(&out)), out)
	})
}

// FuzzAuthorize: arbitrary SubjectAccessReviews and timeouts.
func FuzzAuthorize(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"magic-user","groups":["magic-group"],"resourceAttributes":{"namespace":"default","verb":"create","version":"v1","resource":"configmaps"}}}`), int64(0))
	f.Add([]byte(`{"spec":{"user":"x","nonResourceAttributes":{"path":"/healthz","verb":"get"}}}`), int64(time.Second))
	f.Add([]byte(`{"spec":{}}`), int64(1))
	f.Add([]byte(`"x"`), int64(0))
	f.Fuzz(func(t *testing.T, review []byte, timeout int64) {
		_, authz, _ := fuzzSetup(t)
		var out []byte
		checkCall(t, authz.Authorize(review, time.Duration(timeout), decodeInto(&out)), out)
	})
}

// FuzzAdmit: arbitrary AdmissionRequests, phases, module ids (4 bytes each,
// little-endian) and timeouts.
func FuzzAdmit(f *testing.F) {
	var review struct {
		Request json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(readTestdata(f, "configmap-review.json"), &review); err != nil {
		f.Fatal(err)
	}
	ids := func(n ...uint32) []byte {
		b := make([]byte, 4*len(n))
		for i, v := range n {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
		return b
	}
	f.Add(uint32(1), ids(0, 2), []byte(review.Request), int64(0))
	f.Add(uint32(2), ids(1), []byte(review.Request), int64(time.Second))
	f.Add(uint32(1), ids(0), []byte(`{"uid":"u","operation":"DELETE","object":null}`), int64(0))
	f.Add(uint32(2), ids(7), []byte(`{"uid":"u"}`), int64(0))
	f.Add(uint32(9), ids(), []byte(`{}`), int64(1))
	f.Fuzz(func(t *testing.T, phase uint32, idBytes []byte, request []byte, timeout int64) {
		_, _, admission := fuzzSetup(t)
		moduleIDs := make([]uint32, 0, len(idBytes)/4)
		for i := 0; i+4 <= len(idBytes) && len(moduleIDs) < 16; i += 4 {
			moduleIDs = append(moduleIDs, binary.LittleEndian.Uint32(idBytes[i:]))
		}
		var out []byte
		checkCall(t, admission.Admit(Phase(phase), moduleIDs, request, time.Duration(timeout), decodeInto(&out)), out)
	})
}
