//go:build !cgo

package binding

// Compile always fails without cgo.
func Compile(wasmPath, outPath string) error { return ErrNoCgo }

// InitLogs always fails without cgo.
func (h *Handle) InitLogs() ([]LogLine, error) { return nil, ErrNoCgo }
