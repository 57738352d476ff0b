//go:build !cgo

package binding

import "time"

// Available reports whether the library can be used: never, without cgo.
func Available() error { return ErrNoCgo }

// Handle is a loaded configuration. Without cgo none can be created.
type Handle struct{}

// Init always fails without cgo.
func Init(kind Kind, config []byte, baseDir string) (*Handle, error) { return nil, ErrNoCgo }

// Kind returns 0 without cgo.
func (h *Handle) Kind() Kind { return 0 }

// Close does nothing without cgo.
func (h *Handle) Close() error { return nil }

// Modules always fails without cgo.
func (h *Handle) Modules(decode DecodeFunc) error { return ErrNoCgo }

// Authenticate always fails without cgo.
func (h *Handle) Authenticate(tokenReview []byte, timeout time.Duration, decode DecodeFunc) error {
	return ErrNoCgo
}

// Authorize always fails without cgo.
func (h *Handle) Authorize(sar []byte, timeout time.Duration, decode DecodeFunc) error {
	return ErrNoCgo
}

// Admit always fails without cgo.
func (h *Handle) Admit(phase Phase, moduleIDs []uint32, request []byte, timeout time.Duration, decode DecodeFunc) error {
	return ErrNoCgo
}
