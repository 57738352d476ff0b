package reload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/kubewasm/kubewasm/go/internal/metrics"
)

// fakeLoader "loads" config.yaml: its content is the generation's name and,
// after "module=", the module file it names; "bad" fails.
func fakeLoader(dir string) Loader[*fakeHandle] {
	return func() (*fakeHandle, []string, error) {
		cfg := filepath.Join(dir, "config.yaml")
		data, err := os.ReadFile(cfg)
		if err != nil {
			return nil, nil, err
		}
		s := strings.TrimSpace(string(data))
		if strings.HasPrefix(s, "bad") {
			return nil, nil, errors.New("config.yaml: modules[0] \"m\": settings:\n  - field x: must be a number")
		}
		files := []string{cfg}
		name, module, _ := strings.Cut(s, " module=")
		if module != "" {
			if _, err := os.Stat(module); err != nil {
				return nil, nil, err
			}
			files = append(files, module)
		}
		return &fakeHandle{name: name}, files, nil
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	// As a ConfigMap volume does: a new file renamed over the old one.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func reloads(t *testing.T, kind, status string) float64 {
	t.Helper()
	return metricValue(t, "apiserver_wasm_config_controller_automatic_reloads_total", map[string]string{"kind": kind, "status": status})
}

func TestWatcherPicksUpChanges(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	mod := filepath.Join(dir, "m.wasm")
	write(t, mod, "module v1")
	write(t, cfg, "one module="+mod)
	load := fakeLoader(dir)
	first, files, err := load()
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(first, closeFake)
	defer h.Close()
	const kind = "test-picks-up"
	w := NewWatcher(kind, cfg, files, h, load, 20*time.Millisecond)
	w.Start()
	defer w.Stop()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	current := func() string { g := h.Acquire(); defer g.Release(); return g.Value.name }

	// The configuration changes.
	write(t, cfg, "two module="+mod)
	waitFor("the new configuration", func() bool { return current() == "two" })
	if !first.closed.Load() {
		waitFor("the old generation freed", first.closed.Load)
	}
	// Only a module file changes: the configuration is loaded again.
	second := h.Current().Value
	write(t, mod, "module v2")
	waitFor("a reload after the module changed", func() bool { return h.Current().Value != second })
	if got := reloads(t, kind, "success"); got != 2 {
		t.Errorf("successful reloads = %g, want 2", got)
	}
	// A touch that keeps the content is no change.
	before := h.Current().Value
	now := time.Now().Add(time.Second)
	_ = os.Chtimes(mod, now, now)
	time.Sleep(100 * time.Millisecond)
	if h.Current().Value != before {
		t.Error("a touch without a content change reloaded")
	}
}

func TestWatcherBadConfigKeepsOld(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	write(t, cfg, "good")
	load := fakeLoader(dir)
	first, files, _ := load()
	h := NewHolder(first, closeFake)
	defer h.Close()
	const kind = "test-bad"
	w := NewWatcher(kind, cfg, files, h, load, time.Hour) // polled by hand
	infoBefore := configInfo(t, kind)
	if infoBefore == "" {
		t.Fatal("no last_config_info series after NewWatcher")
	}

	write(t, cfg, "bad")
	swapped, err := w.Poll()
	if swapped || err == nil || !strings.Contains(err.Error(), `modules[0] "m": settings`) {
		t.Fatalf("Poll = %v, %v; want no swap and the loader's error", swapped, err)
	}
	if g := h.Acquire(); g.Value != first || first.closed.Load() {
		t.Fatal("a bad configuration replaced or closed the good one")
	} else {
		g.Release()
	}
	if got := reloads(t, kind, "failure"); got != 1 {
		t.Errorf("failed reloads = %g, want 1", got)
	}
	if got := configInfo(t, kind); got != infoBefore {
		t.Errorf("last_config_info hash changed to %s on a failed reload", got)
	}
	// Unchanged and bad: not tried again at every poll.
	if swapped, err := w.Poll(); swapped || err != nil {
		t.Fatalf("second Poll of the same bad file = %v, %v; want nothing done", swapped, err)
	}
	if got := reloads(t, kind, "failure"); got != 1 {
		t.Errorf("failed reloads = %g after an unchanged poll, want 1", got)
	}
	// Fixed: swapped in.
	write(t, cfg, "fixed")
	if swapped, err := w.Poll(); !swapped || err != nil {
		t.Fatalf("Poll after the fix = %v, %v", swapped, err)
	}
	if h.Current().Value.name != "fixed" || reloads(t, kind, "success") != 1 {
		t.Fatal("the fixed configuration was not swapped in and counted")
	}
	if got := configInfo(t, kind); got == infoBefore || got == "" {
		t.Errorf("last_config_info hash %q after a reload, want a new one", got)
	}
}

func TestWatcherRetriesFailedLoad(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	write(t, cfg, "good")
	load := fakeLoader(dir)
	first, files, _ := load()
	h := NewHolder(first, closeFake)
	defer h.Close()
	w := NewWatcher("test-retry", cfg, files, h, load, time.Millisecond)
	// Names a module file that does not exist yet, so is not watched.
	mod := filepath.Join(dir, "late.wasm")
	write(t, cfg, "late module="+mod)
	if _, err := w.Poll(); err == nil {
		t.Fatal("want a failure: the module file is missing")
	}
	write(t, mod, "module")
	time.Sleep(retryAfterIntervals * time.Millisecond * 2)
	if swapped, err := w.Poll(); !swapped || err != nil {
		t.Fatalf("retry = %v, %v; want the configuration loaded once its module exists", swapped, err)
	}
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	write(t, a, "x")
	fp := Fingerprint([]string{a})
	if !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+64 {
		t.Fatalf("Fingerprint = %q", fp)
	}
	if Fingerprint([]string{a}) != fp {
		t.Fatal("not deterministic")
	}
	write(t, a, "y")
	if Fingerprint([]string{a}) == fp {
		t.Fatal("content change not seen")
	}
	missing := Fingerprint([]string{filepath.Join(dir, "gone")})
	if missing == Fingerprint([]string{a}) || missing == "" {
		t.Fatal("a missing file must hash differently")
	}
	// A symlink swap (a ConfigMap's ..data) is seen through the link.
	b := filepath.Join(dir, "b")
	write(t, b, "z")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	before := Fingerprint([]string{link})
	_ = os.Remove(link)
	if err := os.Symlink(b, link); err != nil {
		t.Fatal(err)
	}
	if Fingerprint([]string{link}) == before {
		t.Fatal("symlink swap not seen")
	}
}

func TestInterval(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want time.Duration
	}{
		{"", DefaultInterval},
		{"1s", time.Second},
		{"0", 0},
		{"soon", DefaultInterval},
		{"-1s", DefaultInterval},
	} {
		t.Setenv(IntervalEnv, tc.env)
		if got := Interval(); got != tc.want {
			t.Errorf("%s=%q: Interval() = %v, want %v", IntervalEnv, tc.env, got, tc.want)
		}
	}
}

// configInfo returns the hash label of kind's last_config_info series.
func configInfo(t *testing.T, kind string) string {
	t.Helper()
	mfs, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hash := ""
	for _, mf := range mfs {
		if mf.GetName() != "apiserver_wasm_config_controller_last_config_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind {
				if hash != "" {
					t.Fatalf("two last_config_info series for %s", kind)
				}
				hash = labels["hash"]
			}
		}
	}
	return hash
}

// metricValue reads one series with exactly these labels (metrics.Value).
func metricValue(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	v, err := metrics.Value(name, want)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOneLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"cannot load 2 modules:\n- a: x\n- b: y\n", "cannot load 2 modules: - a: x; - b: y"},
		{"first\nsecond", "first; second"},
	} {
		if got := oneLine(errors.New(tc.in)); got != tc.want {
			t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStopWithoutStart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	write(t, cfg, "one")
	h := NewHolder(&fakeHandle{}, closeFake)
	defer h.Close()
	w := NewWatcher("test-stop", cfg, nil, h, fakeLoader(dir), time.Second)
	done := make(chan struct{})
	go func() { w.Stop(); w.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop of a watcher never started blocks")
	}
	w.Start() // after Stop: the goroutine ends at once
	w.Stop()
}
