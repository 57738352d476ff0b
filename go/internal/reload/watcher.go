package reload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/kubewasm/kubewasm/go/internal/metrics"
)

// IntervalEnv names the environment variable that overrides the polling
// interval (a Go duration such as "1s"; "0" turns reloading off).
const IntervalEnv = "KUBEWASM_CONFIG_RELOAD_INTERVAL"

// DefaultInterval is how often the watched files are hashed when
// KUBEWASM_CONFIG_RELOAD_INTERVAL is not set.
const DefaultInterval = 5 * time.Second

// retryAfterIntervals: a configuration that failed to load is tried again
// when a watched file changes, and otherwise every this many intervals (it
// may name a module file that did not exist yet and is not watched).
const retryAfterIntervals = 12

// Interval returns the polling interval: $KUBEWASM_CONFIG_RELOAD_INTERVAL
// if set and valid, else DefaultInterval. Zero means reloading is off.
func Interval() time.Duration {
	s := os.Getenv(IntervalEnv)
	if s == "" {
		return DefaultInterval
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		klog.Warningf("kubewasm: ignoring %s=%q (want a duration such as 5s, or 0 to turn reloading off); polling every %s", IntervalEnv, s, DefaultInterval)
		return DefaultInterval
	}
	return d
}

// Loader loads and checks a configuration: it returns the new generation's
// value and every file it was built from (the configuration files and the
// module files they name), or an error naming the file, module and field.
// It runs in the watcher's goroutine, off the request path.
type Loader[T any] func() (value T, files []string, err error)

// Watcher polls a configuration's files and swaps a [Holder]'s generation
// when they change. Create it with [NewWatcher], start it with Start.
type Watcher[T any] struct {
	kind     string
	path     string
	holder   *Holder[T]
	load     Loader[T]
	interval time.Duration

	mu          sync.Mutex
	files       []string  // watched: the files of the current generation, and path
	fingerprint string    // of files, when last loaded or tried
	failed      bool      // the last attempt failed
	lastTry     time.Time // of the last failed attempt

	startOnce sync.Once
	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{} // closed when the polling goroutine ends; nil until Start
}

// NewWatcher returns a watcher of the configuration at path whose current
// generation, in holder, was built from files. kind is the metrics label
// (authentication, authorization, admission). It records the current
// configuration's hash in the metrics; polling starts with Start.
func NewWatcher[T any](kind, path string, files []string, holder *Holder[T], load Loader[T], interval time.Duration) *Watcher[T] {
	metrics.RegisterReload()
	w := &Watcher[T]{
		kind:     kind,
		path:     path,
		holder:   holder,
		load:     load,
		interval: interval,
		stop:     make(chan struct{}),
	}
	w.files = watchSet(path, files)
	w.fingerprint = Fingerprint(w.files)
	metrics.SetConfigInfo(kind, w.fingerprint)
	return w
}

func watchSet(path string, files []string) []string {
	set := append([]string{path}, files...)
	slices.Sort(set)
	return slices.Compact(set)
}

// Start polls every interval in a goroutine of its own until Stop. An
// interval of zero or less does not start it. Only the first call counts.
func (w *Watcher[T]) Start() {
	w.startOnce.Do(w.start)
}

func (w *Watcher[T]) start() {
	w.mu.Lock()
	w.done = make(chan struct{})
	w.mu.Unlock()
	if w.interval <= 0 {
		close(w.done)
		return
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.Poll()
			}
		}
	}()
}

// Stop stops polling and waits for a poll in progress. It is idempotent,
// and returns at once for a watcher that was never started.
func (w *Watcher[T]) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Poll hashes the watched files once and, when they changed since the last
// load or attempt (or a failed attempt is due for a retry), loads the
// configuration and swaps it in. It reports whether a new generation was
// swapped in, and the load error of a failed attempt.
func (w *Watcher[T]) Poll() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fp := Fingerprint(w.files)
	retry := w.failed && time.Since(w.lastTry) >= retryAfterIntervals*w.interval
	if fp == w.fingerprint && !retry {
		return false, nil
	}
	v, files, err := w.load()
	if err != nil {
		w.fingerprint, w.failed, w.lastTry = fp, true, time.Now()
		metrics.RecordReload(w.kind, false)
		klog.Errorf("kubewasm: reloading the %s configuration %s failed, the previous configuration keeps serving: %s", w.kind, w.path, oneLine(err))
		return false, err
	}
	w.files = watchSet(w.path, files)
	// The fingerprint of the files just loaded; a file written between the
	// load and this hash is picked up by the next poll (one extra reload).
	w.fingerprint, w.failed = Fingerprint(w.files), false
	w.holder.Swap(v)
	metrics.RecordReload(w.kind, true)
	metrics.SetConfigInfo(w.kind, w.fingerprint)
	klog.Infof("kubewasm: reloaded the %s configuration %s (%d files, %s)", w.kind, w.path, len(w.files), w.fingerprint)
	return true, nil
}

// oneLine joins a multi-line error message (the library lists one problem
// per line) into one log line.
func oneLine(err error) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		if i > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(strings.TrimSpace(line))
	}
	return b.String()
}

// Fingerprint is "sha256:<hex>" over the paths and the sha256 of the
// contents of files (in the order given; a file that cannot be read
// contributes its error). Hashing contents, not modification times, sees a
// change made by an atomic rename or a symlink swap (a Kubernetes ConfigMap
// volume) and ignores a touch.
func Fingerprint(files []string) string {
	all := sha256.New()
	for _, f := range files {
		fmt.Fprintf(all, "%s\x00", f)
		sum, err := hashFile(f)
		if err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // the errno, without the path written above
			}
			fmt.Fprintf(all, "error:%v\x00", err)
			continue
		}
		all.Write(sum)
	}
	return "sha256:" + hex.EncodeToString(all.Sum(nil))
}

func hashFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
