package images

import (
	"archive/tar"
	"bytes"
	_ "crypto/sha256" // go-digest hashes with it, once registered
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// AnnotationImageName is the index.json annotation containerd's Import
// reads an image's full name from ("docker.io/library/busybox:latest").
// Without it, an image is named after the OCI ref name annotation (only
// the tag, "latest") or, without either, "import-<date>".
const AnnotationImageName = "io.containerd.image.name"

// Epoch is the modification time of every file in every image, so that
// the same sources always give the same bytes, hence the same digests.
var Epoch = time.Unix(0, 0).UTC()

// Spec says what one image holds and how its containers start.
type Spec struct {
	// Names are the image's full references, each with a tag, e.g.
	// "registry.k8s.io/pause:3.10". Every name points to the same image.
	Names []string
	// Architecture is the GOARCH the image's programs run on ("amd64").
	Architecture string

	// What the container runs, as in a Dockerfile: the process is
	// Entrypoint followed by Cmd; a pod's `command` replaces Entrypoint
	// and its `args` replace Cmd.
	Entrypoint []string
	Cmd        []string
	Env        []string // "KEY=value"
	WorkingDir string
	// ExposedPorts documents the ports the program listens on ("8080/tcp").
	ExposedPorts []string

	// Files is the image's file system, its one layer. Parent directories
	// that are not listed are made with mode 0755.
	Files []File
}

// File is one entry of an image's file system.
type File struct {
	// Path is absolute, as seen in the container: "/bin/sh".
	Path string
	// Mode holds the permission bits (and setuid, setgid, sticky) and the
	// type: fs.ModeDir for a directory, fs.ModeSymlink for a symbolic
	// link, neither for a regular file.
	Mode fs.FileMode
	// Content is a regular file's content, unless Source is set.
	Content []byte
	// Source is a file of the build machine to copy, e.g. /usr/bin/busybox.
	Source string
	// Link is the target of a symbolic link, e.g. "busybox".
	Link string
}

// Dir returns the directory path with permissions perm.
func Dir(path string, perm fs.FileMode) File {
	return File{Path: path, Mode: fs.ModeDir | perm}
}

// Text returns the regular file path holding content.
func Text(path string, perm fs.FileMode, content string) File {
	return File{Path: path, Mode: perm, Content: []byte(content)}
}

// Copy returns the regular file path holding a copy of the build
// machine's file source.
func Copy(path string, perm fs.FileMode, source string) File {
	return File{Path: path, Mode: perm, Source: source}
}

// Symlink returns the symbolic link path pointing to target.
func Symlink(path, target string) File {
	return File{Path: path, Mode: fs.ModeSymlink | 0o777, Link: target}
}

// Built is an image layout tarball and the descriptors of what it holds.
type Built struct {
	// Tar is the OCI image layout as a tar archive: oci-layout,
	// index.json and blobs/sha256/<hex> for the manifest, the config and
	// the layer. containerd's Import (`ctr image import`) reads it.
	Tar []byte
	// Manifest describes the image manifest. Its digest is the image's
	// digest, the one `ctr image ls` and a pod's status show.
	Manifest ocispec.Descriptor
	// Config describes the image config (entrypoint, env, layer diff IDs).
	Config ocispec.Descriptor
	// Layer describes the one layer, an uncompressed tar.
	Layer ocispec.Descriptor
}

// Build makes the OCI image layout tarball of spec. It reads the Source
// of files from src, where a Source "/usr/bin/busybox" is the name
// "usr/bin/busybox" (give it os.DirFS("/") to read the build machine's
// files). It does nothing else: no clock, no environment; the same spec and
// sources always give the same bytes.
func Build(spec Spec, src fs.FS) (*Built, error) {
	if err := checkNames(spec.Names); err != nil {
		return nil, err
	}
	if spec.Architecture == "" {
		return nil, errors.New("images: spec.Architecture: Required value")
	}
	layer, err := buildLayer(spec.Files, src)
	if err != nil {
		return nil, fmt.Errorf("images: %s: %w", spec.Names[0], err)
	}
	layerDesc := descriptor(ocispec.MediaTypeImageLayer, layer)

	platform := ocispec.Platform{OS: "linux", Architecture: spec.Architecture}
	config, err := json.Marshal(ocispec.Image{
		Platform: platform,
		Config: ocispec.ImageConfig{
			Entrypoint:   spec.Entrypoint,
			Cmd:          spec.Cmd,
			Env:          spec.Env,
			WorkingDir:   spec.WorkingDir,
			ExposedPorts: set(spec.ExposedPorts),
		},
		// The diff ID is the digest of the uncompressed layer: here the
		// layer itself, since it is not compressed.
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
	})
	if err != nil {
		return nil, err
	}
	configDesc := descriptor(ocispec.MediaTypeImageConfig, config)

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return nil, err
	}
	manifestDesc := descriptor(ocispec.MediaTypeImageManifest, manifest)

	// The index lists the manifest once per name: containerd's Import
	// makes one image for each entry that carries a name annotation.
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
	}
	for _, name := range spec.Names {
		d := manifestDesc
		d.Platform = &platform
		d.Annotations = map[string]string{
			AnnotationImageName:       name,
			ocispec.AnnotationRefName: tag(name),
		}
		index.Manifests = append(index.Manifests, d)
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return nil, err
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return nil, err
	}

	// The archive: blobs first, then the two small files that point to them.
	a := newArchive()
	a.dir("blobs/", 0o755)
	a.dir("blobs/sha256/", 0o755)
	for _, blob := range []struct {
		desc ocispec.Descriptor
		data []byte
	}{{configDesc, config}, {layerDesc, layer}, {manifestDesc, manifest}} {
		a.file("blobs/sha256/"+blob.desc.Digest.Encoded(), 0o644, blob.data)
	}
	a.file(ocispec.ImageIndexFile, 0o644, indexJSON)
	a.file(ocispec.ImageLayoutFile, 0o644, layoutJSON)
	if err := a.close(); err != nil {
		return nil, err
	}
	return &Built{Tar: a.buf.Bytes(), Manifest: manifestDesc, Config: configDesc, Layer: layerDesc}, nil
}

// buildLayer makes the layer tar of files: sorted by path, parents first,
// every entry owned by root and dated Epoch.
func buildLayer(files []File, src fs.FS) ([]byte, error) {
	entries := map[string]File{} // by clean path without the leading "/"
	for _, f := range files {
		p, err := cleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("file %q: listed twice", f.Path)
		}
		if f.Mode.Type() != 0 && f.Mode.Type() != fs.ModeDir && f.Mode.Type() != fs.ModeSymlink {
			return nil, fmt.Errorf("file %q: mode %v: only regular files, directories and symlinks", f.Path, f.Mode)
		}
		if f.Source != "" && f.Content != nil {
			return nil, fmt.Errorf("file %q: both Content and Source", f.Path)
		}
		if f.Mode&fs.ModeSymlink != 0 && f.Link == "" {
			return nil, fmt.Errorf("file %q: symlink without a Link target", f.Path)
		}
		entries[p] = f
	}
	// Parents that are not listed are plain directories.
	for p := range entries {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			parent, ok := entries[dir]
			if !ok {
				entries[dir] = Dir("/"+dir, 0o755)
			} else if !parent.Mode.IsDir() {
				return nil, fmt.Errorf("file %q: its parent %q is not a directory", "/"+p, parent.Path)
			}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths) // "bin" < "bin/sh" < "etc": a parent always comes first

	a := newArchive()
	for _, p := range paths {
		f := entries[p]
		switch {
		case f.Mode.IsDir():
			a.dir(p+"/", f.Mode)
		case f.Mode&fs.ModeSymlink != 0:
			a.symlink(p, f.Link)
		default:
			content := f.Content
			if f.Source != "" {
				var err error
				content, err = fs.ReadFile(src, strings.TrimPrefix(path.Clean(f.Source), "/"))
				var pathErr *fs.PathError
				if errors.As(err, &pathErr) {
					err = pathErr.Err // its path is the fs.FS name, not Source
				}
				if err != nil {
					return nil, fmt.Errorf("file %q: copying %s: %w", f.Path, f.Source, err)
				}
			}
			a.file(p, f.Mode, content)
		}
	}
	if err := a.close(); err != nil {
		return nil, err
	}
	return a.buf.Bytes(), nil
}

// archive writes a deterministic tar archive into memory; the first error
// sticks and close returns it.
type archive struct {
	buf bytes.Buffer
	tw  *tar.Writer
	err error
}

func newArchive() *archive {
	a := &archive{}
	a.tw = tar.NewWriter(&a.buf)
	return a
}

func (a *archive) dir(name string, mode fs.FileMode) {
	a.add(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: tarMode(mode)}, nil)
}

func (a *archive) symlink(name, target string) {
	a.add(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}, nil)
}

func (a *archive) file(name string, mode fs.FileMode, content []byte) {
	a.add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: tarMode(mode), Size: int64(len(content))}, content)
}

func (a *archive) add(h *tar.Header, content []byte) {
	if a.err != nil {
		return
	}
	h.ModTime = Epoch // Uid, Gid 0 and no user or group names: root
	if a.err = a.tw.WriteHeader(h); a.err == nil && content != nil {
		_, a.err = a.tw.Write(content)
	}
}

func (a *archive) close() error {
	if a.err != nil {
		return a.err
	}
	return a.tw.Close()
}

// tarMode converts Go's file mode bits to the Unix ones tar stores: Go
// keeps setuid, setgid and sticky apart from the permission bits.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// cleanPath checks that p is absolute and inside the image, and returns it
// without the leading "/", as tar stores it.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("file %q: the path must be absolute", p)
	}
	clean := path.Clean(p)
	if clean == "/" {
		return "", fmt.Errorf("file %q: the root is implicit", p)
	}
	return clean[1:], nil
}

// checkNames checks that an image has names and that each is a full
// reference with a tag: containerd stores names as given, and the kubelet
// looks images up by their full name, so "busybox" would never be found.
func checkNames(names []string) error {
	if len(names) == 0 {
		return errors.New("images: spec.Names: Required value")
	}
	for i, name := range names {
		ref, err := reference.ParseNamed(name)
		if err != nil {
			return fmt.Errorf("images: spec.Names[%d]: %q: %w (write it in full: docker.io/library/busybox:latest)", i, name, err)
		}
		if _, ok := ref.(reference.Tagged); !ok {
			return fmt.Errorf("images: spec.Names[%d]: %q: needs a tag (\":latest\")", i, name)
		}
	}
	return nil
}

// tag returns the tag of a reference checked by checkNames.
func tag(name string) string {
	ref, _ := reference.ParseNamed(name)
	return ref.(reference.Tagged).Tag()
}

// descriptor describes the blob data of type mediaType.
func descriptor(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

// set turns a list into the JSON object with those keys that image
// configs use for sets, or nil if the list is empty.
func set(keys []string) map[string]struct{} {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[k] = struct{}{}
	}
	return m
}
