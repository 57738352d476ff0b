// Package reload swaps a loaded kubewasm configuration for a new one while
// the API server serves requests.
//
// A [Holder] keeps the current generation: a value (a binding handle and
// everything derived from it) with a reference count. Requests take a
// reference with [Holder.Acquire] and give it back with
// [Generation.Release]; [Holder.Swap] makes a new generation current and
// frees the old one only once the last request that acquired it has released
// it, so calls in flight finish on the configuration they started with.
//
// A [Watcher] polls the configuration file and every module file it names
// (by content hash), loads and checks a changed configuration off the
// request path, and swaps it in on success; a configuration that fails to
// load leaves the old one serving and is logged and counted.
package reload

import (
	"sync"
	"sync/atomic"
)

// Generation is one loaded configuration with its reference count. The
// holder owns one reference while the generation is current; every
// [Holder.Acquire] adds one, every [Generation.Release] drops one, and the
// generation is freed when the count reaches zero.
type Generation[T any] struct {
	// Value is the loaded configuration. It must not be used after Release.
	Value T

	refs  atomic.Int64
	free  func(T) error
	freed chan struct{}
}

// Release gives back a reference taken by [Holder.Acquire]. The last
// release of a generation that is no longer current frees it, in a
// goroutine of its own so that the request releasing it does not wait.
func (g *Generation[T]) Release() {
	g.unref(true)
}

// unref drops one reference; async frees in a new goroutine.
func (g *Generation[T]) unref(async bool) {
	switch n := g.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("reload: Generation released more often than acquired")
	}
	if async {
		go g.doFree()
		return
	}
	g.doFree()
}

func (g *Generation[T]) doFree() {
	if g.free != nil {
		_ = g.free(g.Value)
	}
	close(g.freed)
}

// Freed is closed once the generation has been freed.
func (g *Generation[T]) Freed() <-chan struct{} { return g.freed }

// TryAcquire takes a reference to g, as [Holder.Acquire] does for the
// current generation, unless g has been freed already (it was swapped out and
// its last reference released); then it returns false. It lets a caller
// work on a generation from [Holder.Current] without a reference (reading
// Go data that is never freed) and take one only when it needs the value to
// stay alive (a library call); the caller must Release after a true result.
func (g *Generation[T]) TryAcquire() bool { return g.tryRef() }

// tryRef adds a reference unless the count already reached zero (the
// generation is being freed).
func (g *Generation[T]) tryRef() bool {
	for {
		n := g.refs.Load()
		if n <= 0 {
			return false
		}
		if g.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Holder keeps the current [Generation] of a configuration. It is safe for
// concurrent use; Acquire takes no lock.
type Holder[T any] struct {
	cur  atomic.Pointer[Generation[T]]
	free func(T) error

	closeOnce sync.Once
}

// NewHolder returns a holder whose current generation is initial. free
// releases a generation's value (for a binding handle, its Close) once no
// request uses it any more; nil frees nothing.
func NewHolder[T any](initial T, free func(T) error) *Holder[T] {
	h := &Holder[T]{free: free}
	h.cur.Store(h.newGeneration(initial))
	return h
}

func (h *Holder[T]) newGeneration(v T) *Generation[T] {
	g := &Generation[T]{Value: v, free: h.free, freed: make(chan struct{})}
	g.refs.Store(1) // the holder's reference
	return g
}

// Acquire returns the current generation with a reference taken: the caller
// must call Release exactly once when done with it. After Close it returns
// nil.
func (h *Holder[T]) Acquire() *Generation[T] {
	for {
		g := h.cur.Load()
		if g == nil {
			return nil
		}
		if g.tryRef() {
			return g
		}
		// g lost its last reference between the load and tryRef: it is no
		// longer current, so the next load sees its successor (or nil).
	}
}

// Current returns the current generation without taking a reference, for
// reading fields that do not need it to stay alive (tests, metrics). nil
// after Close.
func (h *Holder[T]) Current() *Generation[T] { return h.cur.Load() }

// Swap makes v the current generation and drops the holder's reference to
// the previous one, which is freed once its requests in flight have released
// it (at once, in this goroutine, when none is in flight). It returns the
// previous generation (nil after Close), whose Freed channel tells when that
// happened. Swap after Close frees v at once.
func (h *Holder[T]) Swap(v T) *Generation[T] {
	g := h.newGeneration(v)
	for {
		old := h.cur.Load()
		if old == nil {
			g.unref(false)
			return nil
		}
		if h.cur.CompareAndSwap(old, g) {
			old.unref(false)
			return old
		}
	}
}

// Close stops handing out generations, drops the holder's reference to the
// current one and waits until it is freed (until every request that acquired
// it has released it). It is idempotent.
func (h *Holder[T]) Close() error {
	h.closeOnce.Do(func() {
		old := h.cur.Swap(nil)
		if old == nil {
			return
		}
		old.unref(false)
		<-old.freed
	})
	return nil
}
