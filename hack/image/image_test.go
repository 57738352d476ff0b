package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// The resolver must find what the host's loader finds (ldd asks the loader itself).
func TestResolveRuntimeMatchesLdd(t *testing.T) {
	bin, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Skipf("ldd: %v", err)
	}
	var want []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>":
			want = append(want, filepath.Base(f[2]))
		case len(f) == 2 && strings.HasPrefix(f[0], "/"):
			want = append(want, filepath.Base(f[0])) // the loader
		}
	}
	sort.Strings(want)
	rt, err := ResolveRuntime(bin)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, so := range rt.Objects {
		got = append(got, filepath.Base(so.Path))
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("resolved %v, ldd says %v", got, want)
	}
	if rt.Interpreter == "" || rt.Arch == "" {
		t.Fatalf("interpreter %q arch %q", rt.Interpreter, rt.Arch)
	}
}

func TestResolveRuntimeRejectsNonELF(t *testing.T) {
	if _, err := ResolveRuntime("image_test.go"); err == nil {
		t.Fatal("a Go source file resolved as an ELF binary")
	}
}

func TestBuildLayer(t *testing.T) {
	mtime := time.Unix(1700000000, 0)
	entries := []Entry{
		{Path: "/usr/local/bin/x", Type: tar.TypeReg, Mode: 0o755, Data: []byte("x"),
			PAXRecords: map[string]string{"SCHILY.xattr.security.capability": capNetBindService()}},
		{Path: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root\n")},
	}
	a, err := BuildLayer(entries, mtime)
	if err != nil {
		t.Fatal(err)
	}
	// Same entries in another order: same bytes.
	b, err := BuildLayer([]Entry{entries[1], entries[0]}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the layer depends on the order of the entries")
	}
	tr := tar.NewReader(bytes.NewReader(a))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(mtime) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v owner %d:%d", h.Name, h.ModTime, h.Uid, h.Gid)
		}
		if h.Name == "usr/local/bin/x" {
			c := h.PAXRecords["SCHILY.xattr.security.capability"]
			if len(c) != 20 || c[7] != 0 || c[5] != 0x04 {
				t.Errorf("capability xattr %x", c)
			}
		}
	}
	want := "etc/ etc/passwd usr/ usr/local/ usr/local/bin/ usr/local/bin/x"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("entries %q, want %q", got, want)
	}
	if _, err := BuildLayer([]Entry{{Path: "relative", Type: tar.TypeReg}}, mtime); err == nil {
		t.Fatal("a relative path was accepted")
	}
	if _, err := BuildLayer([]Entry{{Path: "/a", Type: tar.TypeReg}, {Path: "/a/b", Type: tar.TypeReg}}, mtime); err == nil {
		t.Fatal("a file below a regular file was accepted")
	}
}

// Two builds with the same inputs give the same image digest; the config is as documented.
func TestBuildIsReproducible(t *testing.T) {
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	tag, _ := name.NewTag("registry.example.com/kubewasm/kube-apiserver:v1.37.2")
	o := Options{Binary: bin, Ref: tag, KubernetesVersion: "v1.37.2", KubewasmVersion: "0.1.0",
		Revision: "abc", Created: time.Unix(1700000000, 0).UTC()}
	var digests []string
	for i := 0; i < 2; i++ {
		res, err := Build(o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := res.Image.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
		cf, err := res.Image.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cf.Config.Entrypoint, " "); got != "/usr/local/bin/kube-apiserver" {
			t.Errorf("entrypoint %q", got)
		}
		if cf.Config.User != "" || cf.Config.Labels["io.kubewasm.kubernetes-version"] != "v1.37.2" ||
			cf.Config.Labels["io.kubewasm.version"] != "0.1.0" || cf.OS != "linux" || cf.Architecture != res.Runtime.Arch {
			t.Errorf("config %+v", cf)
		}
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds gave %v", digests)
	}
}
