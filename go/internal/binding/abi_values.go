//go:build cgo

package binding

// The header's ABI numbers, for the test that keeps the Go constants equal to
// them (abi_test.go). The #cgo directives are in cgo.go.

/*
#include "kubewasm.h"
*/
import "C"

// headerValues maps the name of every ABI number the header defines (the
// enums KubewasmKind, KubewasmPhase and KubewasmError, generated from the
// Rust enums, and KUBEWASM_ABI_VERSION) to its value in the header and to
// the Go constant that mirrors it.
func headerValues() map[string][2]uint32 {
	return map[string][2]uint32{
		"KUBEWASM_ABI_VERSION":            {uint32(C.KUBEWASM_ABI_VERSION), ABIVersion},
		"KUBEWASM_KIND_AUTHENTICATION":    {uint32(C.KUBEWASM_KIND_AUTHENTICATION), uint32(KindAuthentication)},
		"KUBEWASM_KIND_AUTHORIZATION":     {uint32(C.KUBEWASM_KIND_AUTHORIZATION), uint32(KindAuthorization)},
		"KUBEWASM_KIND_ADMISSION":         {uint32(C.KUBEWASM_KIND_ADMISSION), uint32(KindAdmission)},
		"KUBEWASM_PHASE_MUTATING":         {uint32(C.KUBEWASM_PHASE_MUTATING), uint32(PhaseMutating)},
		"KUBEWASM_PHASE_VALIDATING":       {uint32(C.KUBEWASM_PHASE_VALIDATING), uint32(PhaseValidating)},
		"KUBEWASM_ERROR_INVALID_ARGUMENT": {uint32(C.KUBEWASM_ERROR_INVALID_ARGUMENT), uint32(CodeInvalidArgument)},
		"KUBEWASM_ERROR_CONFIG":           {uint32(C.KUBEWASM_ERROR_CONFIG), uint32(CodeConfig)},
		"KUBEWASM_ERROR_LOAD":             {uint32(C.KUBEWASM_ERROR_LOAD), uint32(CodeLoad)},
		"KUBEWASM_ERROR_BAD_REQUEST":      {uint32(C.KUBEWASM_ERROR_BAD_REQUEST), uint32(CodeBadRequest)},
		"KUBEWASM_ERROR_PANIC":            {uint32(C.KUBEWASM_ERROR_PANIC), uint32(CodePanic)},
		"KUBEWASM_ERROR_INTERNAL":         {uint32(C.KUBEWASM_ERROR_INTERNAL), uint32(CodeInternal)},
	}
}
