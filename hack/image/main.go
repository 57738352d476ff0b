// Command kubewasm-image builds the kubewasm kube-apiserver container image without a
// container engine: an OCI image layout directory and a docker-archive tarball holding the
// patched binary at /usr/local/bin/kube-apiserver, the dynamic loader and exactly the shared
// libraries the binary needs (found from its ELF headers on the build host), and the few /etc
// files of a distroless base. `make image` runs it (hack/image/build-image.sh).
//
//	kubewasm-image -binary _output/bin/kube-apiserver -image REPO/kube-apiserver:TAG \
//	  -kubernetes-version v1.37.2 -kubewasm-version 0.1.0 -revision COMMIT \
//	  -layout _output/image/oci -tarball _output/image/kube-apiserver.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kubewasm-image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kubewasm-image", flag.ContinueOnError)
	binary := fs.String("binary", "", "the kube-apiserver binary (required)")
	ref := fs.String("image", "", "image name with tag, e.g. registry.example.com/kubewasm/kube-apiserver:v1.37.2 (required)")
	k8sVersion := fs.String("kubernetes-version", "", "Kubernetes release of the binary, e.g. v1.37.2 (required)")
	kwVersion := fs.String("kubewasm-version", "", "kubewasm version (required)")
	revision := fs.String("revision", "", "kubewasm git commit")
	created := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time and file mtime, Unix seconds (default $SOURCE_DATE_EPOCH, else 0)")
	user := fs.String("user", "", "default user of the image (empty: root, as upstream's image)")
	caCerts := fs.String("ca-certificates", "", "PEM bundle to install as /etc/ssl/certs/ca-certificates.crt")
	layoutDir := fs.String("layout", "", "write an OCI image layout directory here (replaced)")
	tarFile := fs.String("tarball", "", "write a docker-archive tarball here (replaced)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for flagName, v := range map[string]string{"binary": *binary, "image": *ref,
		"kubernetes-version": *k8sVersion, "kubewasm-version": *kwVersion} {
		if v == "" {
			return fmt.Errorf("-%s is required", flagName)
		}
	}
	if *layoutDir == "" && *tarFile == "" {
		return fmt.Errorf("nothing to write: give -layout and/or -tarball")
	}
	tag, err := name.NewTag(*ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("-image: %w", err)
	}
	var epoch int64
	if *created != "" {
		if epoch, err = strconv.ParseInt(*created, 10, 64); err != nil {
			return fmt.Errorf("-created: %w", err)
		}
	}
	res, err := Build(Options{
		Binary:            *binary,
		Ref:               tag,
		KubernetesVersion: *k8sVersion,
		KubewasmVersion:   *kwVersion,
		Revision:          *revision,
		Created:           time.Unix(epoch, 0).UTC(),
		User:              *user,
		CACertificates:    *caCerts,
	})
	if err != nil {
		return err
	}
	if *layoutDir != "" {
		if err := WriteLayout(*layoutDir, tag, res.Image); err != nil {
			return fmt.Errorf("writing the OCI layout: %w", err)
		}
	}
	if *tarFile != "" {
		if err := WriteTarball(*tarFile, tag, res.Image); err != nil {
			return fmt.Errorf("writing the tarball: %w", err)
		}
	}
	return summary(tag, res, *layoutDir, *tarFile)
}

// summary prints what was built: name, digests, sizes and the runtime's shared objects.
func summary(tag name.Tag, res *Result, layoutDir, tarFile string) error {
	digest, err := res.Image.Digest()
	if err != nil {
		return err
	}
	cfg, err := res.Image.ConfigName()
	if err != nil {
		return err
	}
	layers, err := res.Image.Layers()
	if err != nil {
		return err
	}
	fmt.Printf("image    %s (%s)\n", tag.Name(), res.Runtime.Arch)
	fmt.Printf("manifest %s\nconfig   %s\n", digest, cfg)
	for i, l := range layers {
		size, err := l.Size()
		if err != nil {
			return err
		}
		d, err := l.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("layer %d  %s %s\n", i, d, mib(size))
	}
	for _, so := range res.Runtime.Objects {
		fmt.Printf("runtime  %s (from %s)\n", so.Path, so.Source)
	}
	if layoutDir != "" {
		fmt.Printf("wrote    %s (OCI image layout)\n", layoutDir)
	}
	if tarFile != "" {
		fmt.Printf("wrote    %s (docker-archive)\n", tarFile)
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
