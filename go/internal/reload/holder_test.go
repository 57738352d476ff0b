package reload

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHandle records when it is closed and whether it was used afterwards.
type fakeHandle struct {
	name      string
	closed    atomic.Bool
	usedAfter atomic.Bool
}

func (f *fakeHandle) use() {
	if f.closed.Load() {
		f.usedAfter.Store(true)
	}
}

func closeFake(f *fakeHandle) error {
	f.closed.Store(true)
	return nil
}

func TestSwapWaitsForInFlight(t *testing.T) {
	old, next := &fakeHandle{name: "old"}, &fakeHandle{name: "new"}
	h := NewHolder(old, closeFake)
	g := h.Acquire()
	if g.Value != old {
		t.Fatalf("Acquire = %s, want old", g.Value.name)
	}
	prev := h.Swap(next)
	if old.closed.Load() {
		t.Fatal("old generation closed while a call holds it")
	}
	if got := h.Acquire(); got.Value != next {
		t.Fatalf("after Swap, Acquire = %s, want new", got.Value.name)
	} else {
		got.Release()
	}
	g.Value.use() // the call in flight finishes on the old generation
	g.Release()
	select {
	case <-prev.Freed():
	case <-time.After(5 * time.Second):
		t.Fatal("old generation not freed after its last release")
	}
	if !old.closed.Load() || next.closed.Load() {
		t.Fatalf("closed: old %v new %v, want true false", old.closed.Load(), next.closed.Load())
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if !next.closed.Load() {
		t.Fatal("Close did not free the current generation")
	}
	if h.Acquire() != nil {
		t.Fatal("Acquire after Close returned a generation")
	}
	if err := h.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
}

func TestSwapWithoutInFlightFreesAtOnce(t *testing.T) {
	old := &fakeHandle{}
	h := NewHolder(old, closeFake)
	h.Swap(&fakeHandle{})
	if !old.closed.Load() {
		t.Fatal("an unused old generation must be freed by Swap itself")
	}
	_ = h.Close()
	late := &fakeHandle{}
	if h.Swap(late) != nil || !late.closed.Load() {
		t.Fatal("Swap after Close must free the new value and return nil")
	}
}

func TestCloseWaitsForInFlight(t *testing.T) {
	f := &fakeHandle{}
	h := NewHolder(f, closeFake)
	g := h.Acquire()
	done := make(chan struct{})
	go func() { _ = h.Close(); close(done) }()
	select {
	case <-done:
		t.Fatal("Close returned while a call holds the generation")
	case <-time.After(50 * time.Millisecond):
	}
	g.Release()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the last release")
	}
	if !f.closed.Load() {
		t.Fatal("not closed")
	}
}

// TestConcurrentSwaps: many goroutines acquire and use while another swaps;
// no generation is used after it was freed and every one is freed once.
func TestConcurrentSwaps(t *testing.T) {
	var frees atomic.Int64
	free := func(f *fakeHandle) error {
		if f.closed.Swap(true) {
			t.Errorf("generation %s freed twice", f.name)
		}
		frees.Add(1)
		return nil
	}
	h := NewHolder(&fakeHandle{name: "0"}, free)
	var all []*fakeHandle
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				g := h.Acquire()
				g.Value.use()
				g.Value.use()
				g.Release()
			}
		}()
	}
	const swaps = 500
	for i := 0; i < swaps; i++ {
		f := &fakeHandle{name: "n"}
		all = append(all, f)
		prev := h.Swap(f)
		if i%50 == 0 {
			<-prev.Freed()
		}
	}
	close(stop)
	wg.Wait()
	_ = h.Close()
	// Frees of the last released generations may still be running.
	deadline := time.Now().Add(5 * time.Second)
	for frees.Load() != swaps+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := frees.Load(); n != swaps+1 {
		t.Fatalf("%d generations freed, want %d", n, swaps+1)
	}
	for _, f := range all {
		if f.usedAfter.Load() {
			t.Fatal("a generation was used after it was freed")
		}
	}
}

func TestReleaseTwicePanics(t *testing.T) {
	h := NewHolder(&fakeHandle{}, closeFake)
	g := h.Acquire()
	g.Release()
	h.Swap(&fakeHandle{})
	defer func() {
		if recover() == nil {
			t.Fatal("releasing more than acquired must panic")
		}
	}()
	g.Release()
}

func TestTryAcquire(t *testing.T) {
	h := NewHolder(&fakeHandle{}, closeFake)
	g := h.Current()
	if !g.TryAcquire() {
		t.Fatal("TryAcquire of the current generation must succeed")
	}
	h.Swap(&fakeHandle{})
	if g.Value.closed.Load() {
		t.Fatal("freed while a reference taken by TryAcquire is held")
	}
	g.Release()
	<-g.Freed()
	if g.TryAcquire() {
		t.Fatal("TryAcquire of a freed generation must fail")
	}
	_ = h.Close()
}
