//go:build cgo

package binding

// #include <stdint.h>
// #include "kubewasm.h"
import "C"

import (
	"encoding/json"
	"runtime"
)

// Compile compiles the WebAssembly module at wasmPath ahead of time, with the
// engine configuration the library uses at init, and writes the result to
// outPath (empty: next to the module, extension replaced by .cwasm),
// replacing an existing file atomically. Init loads such a file (mmap)
// instead of compiling when it sits next to a configured module and is valid
// for that module, this library build and this CPU (kubewasm_compile in
// docs/abi.md).
func Compile(wasmPath, outPath string) error {
	if err := checkABI(); err != nil {
		return err
	}
	in, out := []byte(wasmPath), []byte(outPath)
	cerr := C.kubewasm_compile(bytesPtr(in), C.size_t(len(in)), bytesPtr(out), C.size_t(len(out)))
	runtime.KeepAlive(in)
	runtime.KeepAlive(out)
	return toError(cerr)
}

// InitLogs returns the load-time notes of a handle ("logs" of
// kubewasm_modules): a precompiled module loaded, or ignored and why.
func (h *Handle) InitLogs() ([]LogLine, error) {
	var doc struct {
		Logs []LogLine `json:"logs"`
	}
	err := h.Modules(func(out []byte) error { return json.Unmarshal(out, &doc) })
	return doc.Logs, err
}

// logInitNotes writes a new handle's load-time notes to klog once.
func logInitNotes(h *Handle) {
	if lines, err := h.InitLogs(); err == nil {
		Log(h.kind, lines)
	}
}
