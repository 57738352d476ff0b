//go:build cgo

package binding

import (
	"encoding/json"
	"io"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

// nilDeref dereferences a nil pointer and reports whether Go turned the fault
// into a recoverable panic (it must: wasmtime's signal handlers hand faults
// outside wasm code back to Go's).
func nilDeref() (recovered bool) {
	defer func() { recovered = recover() != nil }()
	var p *int
	return *p == 1
}

// TestSignalsCoexist covers rows 6 and 24 of the reliability matrix: traps of
// every kind (an out-of-bounds access, which wasmtime sees as SIGSEGV;
// unreachable; stack overflow) are failed calls naming the trap, on whichever
// threads the goroutines run; meanwhile a CPU profile sends SIGPROF, the
// collector runs at GOGC=1, and afterwards a Go nil-pointer dereference is
// still a recoverable panic.
func TestSignalsCoexist(t *testing.T) {
	cfg := fixtures.Config(t, `modules:
- name: oob
  module: fixture:hostile-answer
  settings: {attack: oob}
- name: trap
  module: fixture:hostile-trap
- name: stack
  module: fixture:hostile-stack
- name: magic
  module: fixture:magic-authenticator
`)
	h, err := Init(KindAuthentication, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		t.Fatal(err)
	}
	defer pprof.StopCPUProfile()
	defer debug.SetGCPercent(debug.SetGCPercent(1))

	want := []string{"out of bounds memory access", "hostile-trap: panic on purpose", "call stack exhausted"}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				var r struct {
					Status struct {
						Authenticated bool `json:"authenticated"`
					} `json:"status"`
					Outcomes []Outcome `json:"outcomes"`
				}
				err := h.Authenticate([]byte(`{"spec":{"token":"magic-token"}}`), 0, func(b []byte) error {
					return json.Unmarshal(b, &r)
				})
				if err != nil {
					errs <- err.Error()
					return
				}
				if !r.Status.Authenticated || len(r.Outcomes) != 4 {
					errs <- "unexpected result"
					return
				}
				for j, w := range want {
					if r.Outcomes[j].Outcome != "error" || r.Outcomes[j].Failure != FailureTrap || !strings.Contains(r.Outcomes[j].Error, w) {
						errs <- r.Outcomes[j].Module + ": " + string(r.Outcomes[j].Failure) + ": " + r.Outcomes[j].Error
						return
					}
				}
				if !nilDeref() {
					errs <- "a nil dereference was not a recoverable panic"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
