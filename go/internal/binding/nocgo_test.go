//go:build !cgo

package binding

import (
	"errors"
	"strings"
	"testing"
)

func TestNoCgo(t *testing.T) {
	h, err := Init(KindAdmission, []byte("modules: []"), "")
	if h != nil || !errors.Is(err, ErrNoCgo) || !strings.HasPrefix(err.Error(), "kubewasm: built without cgo") {
		t.Fatalf("got %v, %v", h, err)
	}
	if !errors.Is(Available(), &Error{Code: CodeUnavailable}) {
		t.Fatalf("Available: %v", Available())
	}
}
