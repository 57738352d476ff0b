//go:build cgo

package binding

import (
	"os"
	"regexp"
	"testing"
)

// TestConstantsMatchTheHeader keeps every Go mirror of an ABI number equal to
// the header's value (compiled by cgo from include/kubewasm.h), and fails when
// the header gains a number that Go does not mirror.
func TestConstantsMatchTheHeader(t *testing.T) {
	values := headerValues()
	for name, v := range values {
		if v[0] != v[1] {
			t.Errorf("%s: header %d, Go constant %d", name, v[0], v[1])
		}
	}
	header, err := os.ReadFile("../../../include/kubewasm.h")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)^(?:#define |\s+)(KUBEWASM_[A-Z_]+)(?: \d+| = \d+,)$`).FindAllSubmatch(header, -1)
	if len(names) < len(values) {
		t.Fatalf("found %d ABI numbers in the header, fewer than the %d Go mirrors: is the pattern stale?", len(names), len(values))
	}
	for _, m := range names {
		if _, ok := values[string(m[1])]; !ok {
			t.Errorf("the header defines %s, which no Go constant mirrors (add it to headerValues and types.go)", m[1])
		}
	}
}
