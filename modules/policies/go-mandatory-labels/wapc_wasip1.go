//go:build wasip1

package main

// The waPC guest side, written for the standard Go toolchain (Go 1.24+
// //go:wasmexport and //go:wasmimport). The SDK's own waPC support comes from
// github.com/wapc/wapc-guest-tinygo, which compiles with TinyGo only.

import "unsafe"

//go:wasmimport wapc __guest_request
func guestRequest(opPtr, msgPtr unsafe.Pointer)

//go:wasmimport wapc __guest_response
func guestResponse(ptr unsafe.Pointer, n uint32)

//go:wasmimport wapc __guest_error
func guestError(ptr unsafe.Pointer, n uint32)

var handlers = map[string]func([]byte) ([]byte, error){
	"validate":          validate,
	"validate_settings": validateSettings,
	"protocol_version": func([]byte) ([]byte, error) {
		return []byte(`"v1"`), nil
	},
}

func pointer(b []byte) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(b))
}

// wapcInit exists for hosts that look for it; handlers are registered statically.
//
//go:wasmexport wapc_init
func wapcInit() {}

//go:wasmexport __guest_call
func guestCall(opLen, msgLen uint32) uint32 {
	// One spare byte each keeps the pointers valid for empty buffers.
	op := make([]byte, opLen, opLen+1)
	msg := make([]byte, msgLen, msgLen+1)
	guestRequest(pointer(op), pointer(msg))
	fail := func(text string) uint32 {
		b := []byte(text)
		guestError(pointer(b), uint32(len(b)))
		return 0
	}
	handler, ok := handlers[string(op)]
	if !ok {
		return fail("No handler registered for function " + string(op))
	}
	response, err := handler(msg)
	if err != nil {
		return fail(err.Error())
	}
	guestResponse(pointer(response), uint32(len(response)))
	return 1
}
