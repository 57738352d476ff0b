package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SharedObject is one file the dynamic loader needs to start a binary: the loader itself or a
// library named (directly or through another library) in a DT_NEEDED entry.
type SharedObject struct {
	// Path is where the loader looks for the file, and where the image puts it
	// (e.g. /lib/x86_64-linux-gnu/libc.so.6, /lib64/ld-linux-x86-64.so.2).
	Path string
	// Source is the host file its bytes come from (Path with symbolic links resolved).
	Source string
}

// Runtime is what a dynamically linked binary needs from its root file system.
type Runtime struct {
	// Arch is the binary's architecture in OCI terms (amd64, arm64).
	Arch string
	// Interpreter is the loader named by the binary's PT_INTERP; empty for a static binary.
	Interpreter string
	// Objects are the loader and every library, sorted by Path.
	Objects []SharedObject
}

// archInfo maps an ELF machine to the OCI architecture name and the Debian multiarch triple
// whose directories the loader searches by default.
var archInfo = map[elf.Machine]struct{ arch, triple string }{
	elf.EM_X86_64:  {"amd64", "x86_64-linux-gnu"},
	elf.EM_AARCH64: {"arm64", "aarch64-linux-gnu"},
}

// searchDirs are the directories glibc's loader searches when neither an RPATH/RUNPATH nor
// /etc/ld.so.cache names a library (the image has no ld.so.cache), in its order, for a Debian
// multiarch system.
func searchDirs(triple string) []string {
	return []string{
		"/lib/" + triple, "/usr/lib/" + triple,
		"/lib64", "/usr/lib64", "/lib", "/usr/lib",
	}
}

// ResolveRuntime finds the loader and the shared libraries the ELF file at binary needs,
// recursively, in the host directories glibc's loader searches.
// Libraries of another ELF class or machine are skipped, as the loader skips them. An
// RPATH/RUNPATH, a missing library or an unknown machine is an error.
func ResolveRuntime(binary string) (*Runtime, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, ok := archInfo[f.Machine]
	if !ok {
		return nil, fmt.Errorf("%s: unsupported ELF machine %v", binary, f.Machine)
	}
	rt := &Runtime{Arch: info.arch}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return nil, fmt.Errorf("%s: reading PT_INTERP: %w", binary, err)
		}
		rt.Interpreter = strings.TrimRight(string(b), "\x00")
	}
	if rt.Interpreter == "" {
		// A static binary needs nothing.
		return rt, nil
	}
	src, err := hostPath(rt.Interpreter)
	if err != nil {
		return nil, fmt.Errorf("%s: loader %s: %w", binary, rt.Interpreter, err)
	}
	found := map[string]SharedObject{rt.Interpreter: {Path: rt.Interpreter, Source: src}}
	// By soname: the loader loads each soname once, whichever object needed it first.
	loaded := map[string]bool{filepath.Base(rt.Interpreter): true}
	queue := []string{binary}
	for len(queue) > 0 {
		obj := queue[0]
		queue = queue[1:]
		needed, err := neededOf(obj, f.Class, f.Machine)
		if err != nil {
			return nil, err
		}
		for _, name := range needed {
			if loaded[name] {
				continue
			}
			loaded[name] = true
			so, err := findLibrary(name, info.triple, f.Class, f.Machine)
			if err != nil {
				return nil, fmt.Errorf("%s (needed by %s): %w", name, obj, err)
			}
			if _, dup := found[so.Path]; !dup {
				found[so.Path] = so
				queue = append(queue, so.Source)
			}
		}
	}
	for _, so := range found {
		rt.Objects = append(rt.Objects, so)
	}
	sort.Slice(rt.Objects, func(i, j int) bool { return rt.Objects[i].Path < rt.Objects[j].Path })
	return rt, nil
}

// neededOf returns the DT_NEEDED names of an ELF object after checking it matches the binary's
// class and machine and has no RPATH/RUNPATH (which this resolver does not implement).
func neededOf(path string, class elf.Class, machine elf.Machine) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Class != class || f.Machine != machine {
		return nil, fmt.Errorf("%s: %v/%v, want %v/%v", path, f.Class, f.Machine, class, machine)
	}
	for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
		v, err := f.DynString(tag)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(v) > 0 {
			return nil, fmt.Errorf("%s: has %v %q; only the default search path is supported", path, tag, v)
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return needed, nil
}

// findLibrary looks for a soname in the default search directories, skipping files of
// another class or machine.
func findLibrary(name, triple string, class elf.Class, machine elf.Machine) (SharedObject, error) {
	if strings.Contains(name, "/") {
		return SharedObject{}, errors.New("a DT_NEEDED entry with a path is not supported")
	}
	for _, dir := range searchDirs(triple) {
		p := filepath.Join(dir, name)
		src, err := hostPath(p)
		if err != nil {
			continue
		}
		f, err := elf.Open(src)
		if err != nil {
			continue
		}
		match := f.Class == class && f.Machine == machine
		f.Close()
		if match {
			return SharedObject{Path: p, Source: src}, nil
		}
	}
	return SharedObject{}, fmt.Errorf("not found in %s", strings.Join(searchDirs(triple), ", "))
}

// hostPath returns the regular file that path names, with symbolic links resolved.
func hostPath(path string) (string, error) {
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(resolved)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", resolved)
	}
	return resolved, nil
}
