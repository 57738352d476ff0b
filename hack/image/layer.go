package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one file system object of a layer.
type Entry struct {
	// Path is the absolute path in the image, e.g. /usr/local/bin/kube-apiserver.
	Path string
	// Type is tar.TypeReg or tar.TypeDir.
	Type byte
	// Mode holds the permission bits (and sticky/setuid bits).
	Mode int64
	// Data is a regular file's content, unless Source names a host file to copy.
	Data []byte
	// Source is the host file whose content a regular file gets.
	Source string
	// UID and GID own the entry (default 0:0).
	UID, GID int
	// PAXRecords are extra PAX records, e.g. SCHILY.xattr.security.capability.
	PAXRecords map[string]string
}

// capNetBindService is the security.capability extended attribute (struct vfs_cap_data,
// revision 2, little endian) for "cap_net_bind_service=+ep": what upstream's kube-apiserver
// image applies with setcap so that the server can bind ports below 1024 as a non-root user.
func capNetBindService() string {
	const (
		vfsCapRevision2      = 0x02000000
		vfsCapFlagsEffective = 0x000001
		capNetBindService    = 10
	)
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], vfsCapRevision2|vfsCapFlagsEffective)
	binary.LittleEndian.PutUint32(b[4:], 1<<capNetBindService) // data[0].permitted
	// data[0].inheritable, data[1].permitted, data[1].inheritable stay 0.
	return string(b)
}

// BuildLayer returns an uncompressed tar stream holding the entries and every parent
// directory they need (0755, root), sorted by path, every mtime set to mtime: the same
// entries always give the same bytes.
func BuildLayer(entries []Entry, mtime time.Time) ([]byte, error) {
	all := map[string]Entry{}
	for _, e := range entries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path {
			return nil, fmt.Errorf("layer entry %q: want a clean absolute path", e.Path)
		}
		if _, dup := all[e.Path]; dup {
			return nil, fmt.Errorf("layer entry %q twice", e.Path)
		}
		all[e.Path] = e
	}
	for _, e := range entries {
		for d := path.Dir(e.Path); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = Entry{Path: d, Type: tar.TypeDir, Mode: 0o755}
			} else if all[d].Type != tar.TypeDir {
				return nil, fmt.Errorf("layer entry %q is inside %q, which is not a directory", e.Path, d)
			}
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := all[p]
		hdr := &tar.Header{
			Name:       p[1:], // layer paths are relative to the root
			Typeflag:   e.Type,
			Mode:       e.Mode,
			Uid:        e.UID,
			Gid:        e.GID,
			ModTime:    mtime,
			PAXRecords: e.PAXRecords,
		}
		if len(e.PAXRecords) > 0 {
			hdr.Format = tar.FormatPAX
		}
		var data []byte
		switch e.Type {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			data = e.Data
			if e.Source != "" {
				var err error
				if data, err = os.ReadFile(e.Source); err != nil {
					return nil, err
				}
			}
			hdr.Size = int64(len(data))
		default:
			return nil, fmt.Errorf("layer entry %q: unsupported type %q", p, e.Type)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer entry %q: %w", p, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("layer entry %q: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// LayerFromTar wraps an uncompressed tar stream as an OCI layer (gzip, compressed once).
func LayerFromTar(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression),
		tarball.WithCompressedCaching)
}
