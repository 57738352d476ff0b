package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubewasm/kubewasm/go/internal/binding"
)

// runCompile is "kubewasm compile [-o DIR] MODULE.wasm...": it writes
// MODULE.cwasm next to each module, or into DIR. Every module is attempted;
// the command fails when one of them failed.
func runCompile(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("o", "", "write the .cwasm files into this directory instead of next to each module")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kubewasm compile [-o DIR] MODULE.wasm...\n\nCompile modules ahead of time into MODULE.cwasm, loaded at start-up instead of compiling.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(interleave(args, fs)); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: want at least one MODULE.wasm", errUsage)
	}
	if *dir != "" {
		if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
			return fmt.Errorf("%w: -o %s is not a directory", errUsage, *dir)
		}
	}
	failed := 0
	for _, wasm := range fs.Args() {
		out := cwasmPath(wasm, *dir)
		start := time.Now()
		if err := binding.Compile(wasm, out); err != nil {
			fmt.Fprintf(stderr, "kubewasm compile: %s: %v\n", wasm, err)
			failed++
			continue
		}
		size := int64(-1)
		if st, err := os.Stat(out); err == nil {
			size = st.Size()
		}
		fmt.Fprintf(stdout, "%s -> %s (%d bytes, %.0f ms)\n", wasm, out, size, float64(time.Since(start).Microseconds())/1000)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d module(s) not compiled", failed, fs.NArg())
	}
	return nil
}

// cwasmPath is where the precompiled form of wasm goes: the same name with
// the extension replaced by .cwasm, next to it or in dir. Init looks for it
// next to the configured module only.
func cwasmPath(wasm, dir string) string {
	base := strings.TrimSuffix(wasm, filepath.Ext(wasm)) + ".cwasm"
	if dir == "" {
		return base
	}
	return filepath.Join(dir, filepath.Base(base))
}

// printNotes prints a configuration's load-time notes.
func printNotes(w io.Writer, notes []binding.LogLine) {
	for _, n := range notes {
		fmt.Fprintf(w, "%s: module %q: %s\n", n.Level, n.Module, n.Message)
	}
}
