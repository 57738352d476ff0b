// Package binding is the cgo binding to the kubewasm Rust library (the C ABI
// described in docs/abi.md and include/kubewasm.h).
//
// It is deliberately thin: it moves JSON bytes across the C boundary once per
// decision and converts C errors into Go errors. The Kubernetes semantics live
// in the authenticator, authorizer and admission packages, which talk to a
// [Handle] through small interfaces so that they can be tested with fakes.
//
// Inputs are passed without a copy (a pointer to the Go byte slice, which the
// library does not retain); outputs are owned by the library and are handed to
// a decode callback as a slice that aliases Rust memory and is only valid for
// the duration of that callback, after which it is freed with
// kubewasm_bytes_free.
//
// Without cgo (CGO_ENABLED=0, the upstream default for kube-apiserver) the
// package still compiles: every constructor returns [ErrNoCgo].
package binding

import (
	"errors"
	"fmt"
)

// ABIVersion is the version of the C ABI this binding was written against
// (KUBEWASM_ABI_VERSION in the header). The library must report the same value
// from kubewasm_abi_version.
const ABIVersion = 1

// Kind selects which configuration format kubewasm_init parses.
type Kind uint32

// Configuration kinds, as numbered by the C ABI.
const (
	KindAuthentication Kind = 1
	KindAuthorization  Kind = 2
	KindAdmission      Kind = 3
)

// String returns the lowercase name of the kind, as used in configuration
// documents and CLI flags.
func (k Kind) String() string {
	switch k {
	case KindAuthentication:
		return "authentication"
	case KindAuthorization:
		return "authorization"
	case KindAdmission:
		return "admission"
	default:
		return fmt.Sprintf("kind(%d)", uint32(k))
	}
}

// ParseKind is the inverse of [Kind.String].
func ParseKind(s string) (Kind, error) {
	for _, k := range []Kind{KindAuthentication, KindAuthorization, KindAdmission} {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown kind %q (want authentication, authorization or admission)", s)
}

// Phase selects the admission phase of a kubewasm_admit call.
type Phase uint32

// Admission phases, as numbered by the C ABI.
const (
	PhaseMutating   Phase = 1
	PhaseValidating Phase = 2
)

// String returns "mutating" or "validating".
func (p Phase) String() string {
	switch p {
	case PhaseMutating:
		return "mutating"
	case PhaseValidating:
		return "validating"
	default:
		return fmt.Sprintf("phase(%d)", uint32(p))
	}
}

// Code is the stable numeric error code of a kubewasm_error.
type Code uint32

// Error codes, as numbered by the C ABI. Numbers are never reused.
const (
	CodeInvalidArgument Code = 1
	CodeConfig          Code = 2
	CodeLoad            Code = 3
	CodeBadRequest      Code = 4
	CodePanic           Code = 5
	CodeInternal        Code = 6

	// CodeUnavailable is not a library code: the Go side uses it when the
	// library cannot be used at all (built without cgo, ABI mismatch, closed
	// handle).
	CodeUnavailable Code = 1000
)

// String returns the symbolic name of the code.
func (c Code) String() string {
	switch c {
	case CodeInvalidArgument:
		return "INVALID_ARGUMENT"
	case CodeConfig:
		return "CONFIG"
	case CodeLoad:
		return "LOAD"
	case CodeBadRequest:
		return "BAD_REQUEST"
	case CodePanic:
		return "PANIC"
	case CodeInternal:
		return "INTERNAL"
	case CodeUnavailable:
		return "UNAVAILABLE"
	default:
		return fmt.Sprintf("CODE_%d", uint32(c))
	}
}

// Error is a kubewasm_error converted to Go: its code and message are copied
// and the C object is freed before the Error is returned.
type Error struct {
	// Code is the library's error code.
	Code Code
	// Message is the library's message; for CONFIG errors it lists every
	// problem, one per line.
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return "kubewasm: " + e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &binding.Error{Code: binding.CodeConfig}) works.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
	}
	return false
}

// ErrNoCgo is returned by every constructor of a binary built without cgo.
var ErrNoCgo error = &Error{Code: CodeUnavailable, Message: "built without cgo: rebuild with CGO_ENABLED=1 and the kubewasm static library (make lib) to use WebAssembly modules"}

// ErrClosed is returned by calls on a closed handle.
var ErrClosed error = &Error{Code: CodeUnavailable, Message: "handle is closed"}

// DecodeFunc receives a result buffer owned by the library. The slice is only
// valid during the call: it must be decoded (or copied), never retained.
type DecodeFunc func(out []byte) error

// LibraryDigest is the sha256 prefix of the static library the binary was
// linked with, set at link time by mk/go.mk (-X). Changing it also makes Go
// relink when only the library changed, which cgo does not notice.
var LibraryDigest = "unknown"
