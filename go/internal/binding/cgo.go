//go:build cgo

package binding

// Every #cgo directive of the module lives in this file (they are
// package-global; repeating them elsewhere would duplicate them).
//
// The Rust static library is linked from target/release (make lib), named
// explicitly (-l:libkubewasm.a) because cargo also builds libkubewasm.so
// there, which -lkubewasm would prefer: kube-apiserver must stay one
// self-contained binary. The native libraries are those reported by
// `cargo rustc --release -- --print native-static-libs` for the
// x86_64/aarch64 linux-gnu targets. To link another build of the library
// (hack/build-apiserver.sh's KUBEWASM_LIB), put its directory first with
// CGO_LDFLAGS=-L<dir>: cgo places CGO_LDFLAGS before these flags.

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
#cgo LDFLAGS: -L${SRCDIR}/../../../target/release -l:libkubewasm.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#cgo noescape kubewasm_init
#cgo nocallback kubewasm_init
#cgo noescape kubewasm_compile
#cgo nocallback kubewasm_compile
#cgo noescape kubewasm_modules
#cgo nocallback kubewasm_modules
#cgo noescape kubewasm_authenticate
#cgo nocallback kubewasm_authenticate
#cgo noescape kubewasm_authorize
#cgo nocallback kubewasm_authorize
#cgo noescape kubewasm_admit
#cgo nocallback kubewasm_admit
#cgo noescape kubewasm_error_message
#cgo nocallback kubewasm_error_message
#cgo nocallback kubewasm_bytes_free
#cgo nocallback kubewasm_error_code
#cgo nocallback kubewasm_error_free
#cgo nocallback kubewasm_free
#cgo nocallback kubewasm_abi_version
#include <stdint.h>
#include <stdlib.h>
#include "kubewasm.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

var (
	abiOnce sync.Once
	abiErr  error
)

// checkABI compares the library's ABI version with the header's and with the
// version this binding was written for. It runs once, when the first handle
// is created.
func checkABI() error {
	abiOnce.Do(func() {
		lib := uint32(C.kubewasm_abi_version())
		hdr := uint32(C.KUBEWASM_ABI_VERSION)
		if lib != hdr || lib != ABIVersion {
			abiErr = &Error{Code: CodeUnavailable, Message: fmt.Sprintf(
				"ABI version mismatch: library reports %d, header says %d, Go binding expects %d; rebuild the library (make lib) and the Go binary together", lib, hdr, ABIVersion)}
		}
	})
	return abiErr
}

// Available reports whether the library can be used (always false without
// cgo; with cgo, false only on an ABI mismatch).
func Available() error { return checkABI() }

// Handle is a loaded configuration: kubewasm_handle with its modules compiled.
// It is safe for concurrent use. Close releases it; a cleanup registered with
// the runtime frees a forgotten handle, but only as a backstop: the garbage
// collector does not see the (large) memory held on the Rust side.
type Handle struct {
	mu      sync.RWMutex
	ptr     *C.kubewasm_handle
	kind    Kind
	cleanup runtime.Cleanup
}

// Init parses and validates one configuration (YAML or JSON) of the given
// kind and loads and compiles every module. baseDir resolves relative module
// paths; empty means the current directory.
// A valid precompiled module (.cwasm) next to a module is loaded instead of
// compiling it; the load-time notes (.cwasm used, or ignored and why) are
// logged with klog and available from InitLogs.
func Init(kind Kind, config []byte, baseDir string) (*Handle, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	dir := []byte(baseDir)
	var ptr *C.kubewasm_handle
	cerr := C.kubewasm_init(C.uint32_t(kind), bytesPtr(config), C.size_t(len(config)), bytesPtr(dir), C.size_t(len(dir)), &ptr)
	runtime.KeepAlive(config)
	runtime.KeepAlive(dir)
	if err := toError(cerr); err != nil {
		return nil, err
	}
	h := &Handle{ptr: ptr, kind: kind}
	h.cleanup = runtime.AddCleanup(h, func(p *C.kubewasm_handle) { C.kubewasm_free(p) }, ptr)
	logInitNotes(h)
	return h, nil
}

// Kind returns the configuration kind the handle was created with.
func (h *Handle) Kind() Kind { return h.kind }

// Close frees the handle. It waits for calls in flight, is idempotent, and
// later calls return ErrClosed.
func (h *Handle) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ptr == nil {
		return nil
	}
	h.cleanup.Stop()
	C.kubewasm_free(h.ptr)
	h.ptr = nil
	return nil
}

// Modules returns the parsed configuration with defaults applied
// ({"kind": ..., "modules": [...]}) to decode.
func (h *Handle) Modules(decode DecodeFunc) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.ptr == nil {
		return ErrClosed
	}
	var out *C.uint8_t
	var outLen C.size_t
	cerr := C.kubewasm_modules(h.ptr, &out, &outLen)
	return finish(cerr, out, outLen, decode)
}

// Authenticate runs a TokenReview (JSON) through the authentication modules
// and passes the result to decode. timeout bounds the call (0: module
// timeouts only).
func (h *Handle) Authenticate(tokenReview []byte, timeout time.Duration, decode DecodeFunc) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.ptr == nil {
		return ErrClosed
	}
	var out *C.uint8_t
	var outLen C.size_t
	cerr := C.kubewasm_authenticate(h.ptr, bytesPtr(tokenReview), C.size_t(len(tokenReview)), nanos(timeout), &out, &outLen)
	runtime.KeepAlive(tokenReview)
	return finish(cerr, out, outLen, decode)
}

// Authorize runs a SubjectAccessReview (JSON) through the authorization
// modules and passes the result to decode.
func (h *Handle) Authorize(sar []byte, timeout time.Duration, decode DecodeFunc) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.ptr == nil {
		return ErrClosed
	}
	var out *C.uint8_t
	var outLen C.size_t
	cerr := C.kubewasm_authorize(h.ptr, bytesPtr(sar), C.size_t(len(sar)), nanos(timeout), &out, &outLen)
	runtime.KeepAlive(sar)
	return finish(cerr, out, outLen, decode)
}

// Admit runs the given modules (indexes into the module list) of one phase on
// an AdmissionRequest (JSON, the "request" of an AdmissionReview) and passes
// the result to decode.
func (h *Handle) Admit(phase Phase, moduleIDs []uint32, request []byte, timeout time.Duration, decode DecodeFunc) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.ptr == nil {
		return ErrClosed
	}
	var ids *C.uint32_t
	if len(moduleIDs) > 0 {
		ids = (*C.uint32_t)(unsafe.Pointer(&moduleIDs[0]))
	}
	var out *C.uint8_t
	var outLen C.size_t
	cerr := C.kubewasm_admit(h.ptr, C.uint32_t(phase), ids, C.size_t(len(moduleIDs)), bytesPtr(request), C.size_t(len(request)), nanos(timeout), &out, &outLen)
	runtime.KeepAlive(moduleIDs)
	runtime.KeepAlive(request)
	return finish(cerr, out, outLen, decode)
}

// bytesPtr returns a pointer to the first byte of b without copying, or nil
// for an empty slice. The library reads it during the call and keeps no
// reference (#cgo noescape).
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

func nanos(d time.Duration) C.uint64_t {
	if d <= 0 {
		return 0
	}
	return C.uint64_t(d.Nanoseconds())
}

// finish converts the error, or hands the Rust-owned output to decode and
// frees it afterwards (also when decode panics).
func finish(cerr *C.kubewasm_error, out *C.uint8_t, outLen C.size_t, decode DecodeFunc) error {
	if err := toError(cerr); err != nil {
		return err
	}
	defer C.kubewasm_bytes_free(out, outLen)
	if decode == nil {
		return nil
	}
	return decode(unsafe.Slice((*byte)(unsafe.Pointer(out)), int(outLen)))
}

// toError copies code and message out of a kubewasm_error and frees it.
func toError(cerr *C.kubewasm_error) error {
	if cerr == nil {
		return nil
	}
	defer C.kubewasm_error_free(cerr)
	var msg *C.uint8_t
	var msgLen C.size_t
	C.kubewasm_error_message(cerr, &msg, &msgLen)
	return &Error{
		Code:    Code(C.kubewasm_error_code(cerr)),
		Message: C.GoStringN((*C.char)(unsafe.Pointer(msg)), C.int(msgLen)),
	}
}
