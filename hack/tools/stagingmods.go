//go:build ignore

// stagingmods reads `go mod edit -json` on stdin and prints, one per line, every k8s.io/*
// module that the Kubernetes go.mod requires at v0.0.0 or replaces with a ./staging path:
// the staging modules that a module-proxy copy of k8s.io/kubernetes does not contain.
// With -required it prints only those required at v0.0.0; with -local it prints instead every
// replace that still points at a local ./ path.
//
// Standard library only, so a fresh machine needs nothing but Go (no jq).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type modVer struct{ Path, Version string }

func main() {
	local := flag.Bool("local", false, "print remaining local replaces instead")
	required := flag.Bool("required", false, "print only the modules required at v0.0.0")
	flag.Parse()
	var gm struct {
		Require []modVer
		Replace []struct{ Old, New modVer }
	}
	if err := json.NewDecoder(os.Stdin).Decode(&gm); err != nil {
		fmt.Fprintln(os.Stderr, "stagingmods: decoding go mod edit -json:", err)
		os.Exit(2)
	}
	if *local {
		for _, r := range gm.Replace {
			if strings.HasPrefix(r.New.Path, "./") || strings.HasPrefix(r.New.Path, "../") {
				fmt.Printf("%s => %s\n", r.Old.Path, r.New.Path)
			}
		}
		return
	}
	set := map[string]bool{}
	for _, r := range gm.Require {
		if strings.HasPrefix(r.Path, "k8s.io/") && r.Version == "v0.0.0" {
			set[r.Path] = true
		}
	}
	for _, r := range gm.Replace {
		if *required {
			break
		}
		if strings.HasPrefix(r.Old.Path, "k8s.io/") && strings.HasPrefix(r.New.Path, "./staging/") {
			set[r.Old.Path] = true
		}
	}
	var out []string
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	for _, m := range out {
		fmt.Println(m)
	}
}
