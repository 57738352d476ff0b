//go:build cgo

package binding

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubewasm/kubewasm/go/internal/fixtures"
)

// soakSample is one measurement of this process.
type soakSample struct {
	calls      int64
	seconds    float64
	rssKiB     int64
	fds        int
	threads    int64
	goroutines int
}

// procStatus returns a numeric field of /proc/self/status (kB for sizes).
func procStatus(name string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				n, _ := strconv.ParseInt(fields[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func takeSample(calls int64, started time.Time) soakSample {
	fds, _ := os.ReadDir("/proc/self/fd")
	return soakSample{
		calls:   calls,
		seconds: time.Since(started).Seconds(),
		rssKiB:  procStatus("VmRSS"),
		// ReadDir's own descriptor is among the entries.
		fds:        len(fds) - 1,
		threads:    procStatus("Threads"),
		goroutines: runtime.NumGoroutine(),
	}
}

var soakHostile = []string{"hostile-trap", "hostile-loop", "hostile-memory", "hostile-stack", "hostile-output", "hostile-garbage", "hostile-exit"}

// TestSoak (issue 9, item 6) calls the library from 8 goroutines through this
// binding, mixing the magic modules with the hostile ones, and samples
// resident memory, file descriptors, OS threads and goroutines as it goes.
// It runs only with KUBEWASM_SOAK=1 (make soak, under -race);
// KUBEWASM_SOAK_CALLS sets the number of calls (default 100000). After
// warm-up (a fifth of the calls) memory, descriptors and threads must stay
// within a generous bound of their warm-up value, and every call must have
// the outcome its module produces.
func TestSoak(t *testing.T) {
	if os.Getenv("KUBEWASM_SOAK") != "1" {
		t.Skip("set KUBEWASM_SOAK=1 (make soak)")
	}
	calls := int64(100000)
	if s := os.Getenv("KUBEWASM_SOAK_CALLS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 100 {
			t.Fatalf("KUBEWASM_SOAK_CALLS=%q", s)
		}
		calls = n
	}
	// fixtures.Config expects "fixture:NAME" to end its line.
	admissionCfg := "modules:\n" +
		"- name: magic-mutator\n  mutating: true\n  module: fixture:magic-mutator\n" +
		"- name: magic-validator\n  module: fixture:magic-validator\n"
	for _, policy := range []string{"Fail", "Ignore"} {
		for _, h := range soakHostile {
			admissionCfg += fmt.Sprintf("- name: %s-%s\n  failurePolicy: %s\n  timeout: 5ms\n  memoryLimit: 16Mi\n  module: fixture:%s\n", h, policy, policy, h)
		}
	}
	open := func(kind Kind, cfg string) *Handle {
		h, err := Init(kind, fixtures.Config(t, cfg), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return h
	}
	authn := open(KindAuthentication, "modules:\n- module: fixture:magic-authenticator\n")
	authz := open(KindAuthorization, "modules:\n- module: fixture:magic-authorizer\n")
	admission := open(KindAdmission, admissionCfg)

	tokenReview := []byte(`{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"magic-token"}}`)
	sar := []byte(`{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"magic-user","groups":["magic-group"],"resourceAttributes":{"namespace":"default","verb":"create","version":"v1","resource":"configmaps"}}}`)
	request := []byte(`{"uid":"soak","kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},"namespace":"default","name":"magic","operation":"CREATE","userInfo":{"username":"magic-user"},"object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"magic","namespace":"default"},"data":{"a":"1"}}}`)
	nHostile := int64(len(soakHostile))

	// call runs call i of the mix and checks its outcome.
	call := func(i int64) error {
		var res struct {
			Allowed bool            `json:"allowed"`
			Error   string          `json:"error"`
			Patch   json.RawMessage `json:"patch"`
			Status  struct {
				Authenticated bool `json:"authenticated"`
				Allowed       bool `json:"allowed"`
			} `json:"status"`
		}
		decode := func(out []byte) error { return json.Unmarshal(out, &res) }
		switch slot := i % 100; {
		case slot < 4: // a hostile admission module, each of the 14 in turn
			which := (i / 100) % (2 * nHostile)
			if err := admission.Admit(PhaseValidating, []uint32{uint32(2 + which)}, request, 0, decode); err != nil {
				return err
			}
			fail := which < nHostile
			if fail && (res.Allowed || res.Error == "") || !fail && !res.Allowed {
				return fmt.Errorf("hostile module %d (fail=%v): allowed=%v error=%q", which, fail, res.Allowed, res.Error)
			}
		case slot < 30:
			if err := authn.Authenticate(tokenReview, 0, decode); err != nil {
				return err
			}
			if !res.Status.Authenticated {
				return fmt.Errorf("magic-token was not authenticated")
			}
		case slot < 55:
			if err := authz.Authorize(sar, 0, decode); err != nil {
				return err
			}
			if !res.Status.Allowed {
				return fmt.Errorf("magic-user was not authorized")
			}
		case slot < 80:
			if err := admission.Admit(PhaseMutating, []uint32{0}, request, 0, decode); err != nil {
				return err
			}
			if !res.Allowed || len(res.Patch) == 0 {
				return fmt.Errorf("magic-mutator did not mutate: %q", res.Error)
			}
		default:
			if err := admission.Admit(PhaseValidating, []uint32{1}, request, 0, decode); err != nil {
				return err
			}
			if !res.Allowed {
				return fmt.Errorf("magic-validator rejected a good ConfigMap")
			}
		}
		return nil
	}

	started := time.Now()
	var next, done, wrong atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < calls; i = next.Add(1) - 1 {
				if err := call(i); err != nil {
					wrong.Add(1)
					firstErr.Do(func() { t.Errorf("call %d: %v", i, err) })
				}
				done.Add(1)
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	var samples []soakSample
	step := calls / 20
	for at := int64(0); ; {
		select {
		case <-finished:
		case <-time.After(20 * time.Millisecond):
			if n := done.Load(); n >= at {
				samples = append(samples, takeSample(n, started))
				at += step
			}
			continue
		}
		break
	}
	elapsed := time.Since(started)
	samples = append(samples, takeSample(calls, started))
	t.Logf("%10s %8s %10s %5s %7s %10s", "calls", "seconds", "rss_kib", "fds", "threads", "goroutines")
	for _, s := range samples {
		t.Logf("%10d %8.1f %10d %5d %7d %10d", s.calls, s.seconds, s.rssKiB, s.fds, s.threads, s.goroutines)
	}
	t.Logf("%d calls in %.1f s (%.0f calls/s), %d wrong outcomes", calls, elapsed.Seconds(), float64(calls)/elapsed.Seconds(), wrong.Load())
	warm := samples[0]
	for _, s := range samples {
		if s.calls >= calls/5 {
			warm = s
			break
		}
	}
	// Bounds as in benches/soak.rs: the pooling allocator's warm slots and the
	// malloc arenas grow resident memory for a while after warm-up.
	for _, s := range samples[:len(samples)-1] {
		if s.calls <= warm.calls {
			continue
		}
		if bound := max(warm.rssKiB*2, warm.rssKiB+256<<10); s.rssKiB > bound {
			t.Errorf("rss %d KiB at %d calls > %d KiB (warm-up %d KiB)", s.rssKiB, s.calls, bound, warm.rssKiB)
		}
		if s.fds > warm.fds+8 {
			t.Errorf("%d fds at %d calls (warm-up %d)", s.fds, s.calls, warm.fds)
		}
		// Go starts OS threads for blocking cgo calls as it needs them: allow some slack.
		if s.threads > warm.threads+8 {
			t.Errorf("%d threads at %d calls (warm-up %d)", s.threads, s.calls, warm.threads)
		}
	}
}
