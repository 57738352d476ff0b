package main

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where the binary goes: the path upstream's registry.k8s.io/kube-apiserver image uses, and the
// one kubeadm's static Pod finds through PATH (its command is plain "kube-apiserver").
const binaryPath = "/usr/local/bin/kube-apiserver"

// The users of the image's /etc/passwd, as in the distroless base of upstream's image: root,
// nobody, and nonroot (65532) for running without root.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	// glibc and Go read this; "files dns" is both their default.
	nsswitch = "passwd: files\ngroup: files\nhosts: files dns\n"
)

// Options describe the image to build.
type Options struct {
	// Binary is the kube-apiserver to put into the image.
	Binary string
	// Ref names the image in the docker-archive tarball and the OCI layout's annotations.
	Ref name.Tag
	// KubernetesVersion is the release the binary is patched from (patches/BASE).
	KubernetesVersion string
	// KubewasmVersion is kubewasm's version (Cargo.toml), Revision its git commit.
	KubewasmVersion, Revision string
	// Created is the image's creation time and every file's mtime (reproducible builds).
	Created time.Time
	// User is the image's default user; empty means root, as in upstream's image.
	User string
	// CACertificates is a PEM bundle copied to /etc/ssl/certs/ca-certificates.crt ("" for none).
	CACertificates string
}

// Result is a built image and what went into its runtime layer.
type Result struct {
	// Image is the built image.
	Image v1.Image
	// Runtime lists the loader and libraries copied into it.
	Runtime *Runtime
}

// Build assembles the image: one runtime layer (the loader and exactly the shared libraries
// the binary needs, /etc/passwd, /etc/group, /etc/nsswitch.conf, CA certificates, /tmp), one
// layer with the binary, and a config that runs it as upstream's image does.
func Build(o Options) (*Result, error) {
	rt, err := ResolveRuntime(o.Binary)
	if err != nil {
		return nil, err
	}
	entries := []Entry{
		{Path: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte(passwd)},
		{Path: "/etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte(group)},
		{Path: "/etc/nsswitch.conf", Type: tar.TypeReg, Mode: 0o644, Data: []byte(nsswitch)},
		{Path: "/tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Path: "/home/nonroot", Type: tar.TypeDir, Mode: 0o700, UID: 65532, GID: 65532},
	}
	if o.CACertificates != "" {
		entries = append(entries, Entry{Path: "/etc/ssl/certs/ca-certificates.crt", Type: tar.TypeReg,
			Mode: 0o644, Source: o.CACertificates})
	}
	for _, so := range rt.Objects {
		entries = append(entries, Entry{Path: so.Path, Type: tar.TypeReg, Mode: 0o755, Source: so.Source})
	}
	runtimeTar, err := BuildLayer(entries, o.Created)
	if err != nil {
		return nil, fmt.Errorf("runtime layer: %w", err)
	}
	binTar, err := BuildLayer([]Entry{{Path: binaryPath, Type: tar.TypeReg, Mode: 0o755, Source: o.Binary,
		PAXRecords: map[string]string{"SCHILY.xattr.security.capability": capNetBindService()}}}, o.Created)
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	runtimeLayer, err := LayerFromTar(runtimeTar)
	if err != nil {
		return nil, err
	}
	binLayer, err := LayerFromTar(binTar)
	if err != nil {
		return nil, err
	}

	created := v1.Time{Time: o.Created}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: runtimeLayer, MediaType: types.OCILayer, History: v1.History{
			Created: created, CreatedBy: "kubewasm hack/image: loader, shared libraries, /etc files",
			Comment: fmt.Sprintf("%d shared objects", len(rt.Objects)),
		}},
		mutate.Addendum{Layer: binLayer, MediaType: types.OCILayer, History: v1.History{
			Created: created, CreatedBy: "kubewasm hack/image: " + binaryPath + " (cap_net_bind_service=+ep)",
		}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = rt.Arch
	cf.OS = "linux"
	cf.Created = created
	cf.Config.Entrypoint = []string{binaryPath}
	cf.Config.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
	}
	cf.Config.WorkingDir = "/"
	cf.Config.User = o.User
	cf.Config.Labels = Labels(o)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	img, ok := mutate.Annotations(img, Labels(o)).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("annotating the manifest: not an image")
	}
	return &Result{Image: img, Runtime: rt}, nil
}

// Labels are the image's config labels, also set as manifest annotations.
func Labels(o Options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title": "kube-apiserver",
		"org.opencontainers.image.description": "kube-apiserver " + o.KubernetesVersion +
			" with kubewasm: WebAssembly authentication, authorization and admission modules",
		"org.opencontainers.image.version":  o.KubernetesVersion + "-kubewasm",
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.created":  o.Created.UTC().Format(time.RFC3339),
		"io.kubewasm.kubernetes-version":    o.KubernetesVersion,
		"io.kubewasm.version":               o.KubewasmVersion,
	}
}

// WriteLayout writes img as the only image of a fresh OCI image layout directory dir,
// replacing what was there. The index entry carries the tag
// (org.opencontainers.image.ref.name) and the full name (io.containerd.image.name, which
// `ctr images import` uses).
func WriteLayout(dir string, ref name.Tag, img v1.Image) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref.TagStr(),
		"io.containerd.image.name":          ref.Name(),
	})); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// WriteTarball writes img as a docker-archive tarball (manifest.json with RepoTags), which
// `docker load`, `podman load`, `ctr images import` and skopeo's docker-archive: read.
func WriteTarball(file string, ref name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, file)
}
