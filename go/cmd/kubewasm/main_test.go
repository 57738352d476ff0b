package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
)

func TestHelpAndUsage(t *testing.T) {
	cases := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"help"}, 0, "kubewasm admit --config FILE [REQUEST]"},
		{[]string{"--help"}, 0, "kubewasm check --kind KIND FILE"},
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"check", "x.yaml"}, 2, "want --kind KIND"},
		{[]string{"admit", "req.json"}, 2, "want --config FILE"},
		{[]string{"admit", "--config", "c.yaml", "-o", "xml"}, 2, "--output must be json or yaml"},
		{[]string{"check", "--kind", "nonsense", "x.yaml"}, 2, "unknown kind"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &out, &errOut)
			if code != tc.wantCode || !strings.Contains(out.String()+errOut.String(), tc.wantOut) {
				t.Fatalf("exit %d (want %d), output:\n%s%s", code, tc.wantCode, out.String(), errOut.String())
			}
		})
	}
}

func TestInterleave(t *testing.T) {
	fs := newTestFlagSet()
	got := interleave([]string{"--config", "c.yaml", "req.json", "-o", "yaml", "-v"}, fs)
	want := []string{"--config", "c.yaml", "-o", "yaml", "-v", "req.json"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func newTestFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("config", "", "")
	fs.String("o", "", "")
	fs.Bool("v", false, "")
	return fs
}
