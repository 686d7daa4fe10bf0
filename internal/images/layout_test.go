package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// tarEntry is one entry of a tar archive read back.
type tarEntry struct {
	hdr     *tar.Header
	content []byte
}

// readTar returns the entries of a tar archive in their order.
func readTar(t *testing.T, data []byte) ([]string, map[string]tarEntry) {
	t.Helper()
	var names []string
	entries := map[string]tarEntry{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, entries
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading tar entry %s: %v", h.Name, err)
		}
		if _, dup := entries[h.Name]; dup {
			t.Errorf("tar entry %s appears twice", h.Name)
		}
		names = append(names, h.Name)
		entries[h.Name] = tarEntry{h, content}
	}
}

// blob returns the blob desc points to in a layout's entries, checking
// that it is there with the size and digest desc says.
func blob(t *testing.T, entries map[string]tarEntry, desc ocispec.Descriptor) []byte {
	t.Helper()
	e, ok := entries["blobs/sha256/"+desc.Digest.Encoded()]
	if !ok {
		t.Fatalf("no blob for %s %s", desc.MediaType, desc.Digest)
	}
	if int64(len(e.content)) != desc.Size {
		t.Errorf("blob %s: %d bytes, descriptor says %d", desc.Digest, len(e.content), desc.Size)
	}
	if got := digest.FromBytes(e.content); got != desc.Digest {
		t.Errorf("blob %s: its content's digest is %s", desc.Digest, got)
	}
	return e.content
}

func unmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
}

var testSpec = Spec{
	Names:        []string{"docker.io/tinykube/test:1.0", "example.com/x/test:latest"},
	Architecture: "amd64",
	Entrypoint:   []string{"/bin/prog"},
	Cmd:          []string{"--flag"},
	Env:          []string{Path, "A=b"},
	WorkingDir:   "/work",
	ExposedPorts: []string{"8080/tcp"},
	Files: []File{
		Copy("/bin/prog", 0o755, "/host/prog"),
		Symlink("/bin/sh", "prog"),
		Text("/etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\n"),
		Dir("/tmp", fs.ModeSticky|0o777),
		Dir("/work", 0o750),
	},
}

var testSources = fstest.MapFS{"host/prog": {Data: []byte("#!program\n")}}

// Reference: the OCI image layout, https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md,
// and containerd's Import (images/archive/importer.go, client import.go).
func TestBuildLayout(t *testing.T) {
	built, err := Build(testSpec, testSources)
	if err != nil {
		t.Fatal(err)
	}
	names, entries := readTar(t, built.Tar)

	// The layout: oci-layout, index.json and the three blobs, nothing else.
	want := []string{"blobs/", "blobs/sha256/",
		"blobs/sha256/" + built.Config.Digest.Encoded(),
		"blobs/sha256/" + built.Layer.Digest.Encoded(),
		"blobs/sha256/" + built.Manifest.Digest.Encoded(),
		"index.json", "oci-layout"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("archive entries:\n got %q\nwant %q", names, want)
	}
	var layout ocispec.ImageLayout
	unmarshal(t, entries["oci-layout"].content, &layout)
	if layout.Version != "1.0.0" {
		t.Errorf("oci-layout: version %q, want 1.0.0", layout.Version)
	}

	// The index: one manifest entry per name, each named both ways.
	var index ocispec.Index
	unmarshal(t, entries["index.json"].content, &index)
	if index.SchemaVersion != 2 || index.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("index: schemaVersion %d, mediaType %q", index.SchemaVersion, index.MediaType)
	}
	if len(index.Manifests) != len(testSpec.Names) {
		t.Fatalf("index: %d manifests, want one per name (%d)", len(index.Manifests), len(testSpec.Names))
	}
	tags := []string{"1.0", "latest"}
	for i, m := range index.Manifests {
		if m.Digest != built.Manifest.Digest || m.Size != built.Manifest.Size || m.MediaType != ocispec.MediaTypeImageManifest {
			t.Errorf("index.manifests[%d] = %s %d %s, want the manifest %s %d", i, m.Digest, m.Size, m.MediaType, built.Manifest.Digest, built.Manifest.Size)
		}
		if got := m.Annotations[AnnotationImageName]; got != testSpec.Names[i] {
			t.Errorf("index.manifests[%d]: %s = %q, want %q", i, AnnotationImageName, got, testSpec.Names[i])
		}
		if got := m.Annotations[ocispec.AnnotationRefName]; got != tags[i] {
			t.Errorf("index.manifests[%d]: %s = %q, want %q", i, ocispec.AnnotationRefName, got, tags[i])
		}
		if m.Platform == nil || m.Platform.OS != "linux" || m.Platform.Architecture != "amd64" {
			t.Errorf("index.manifests[%d]: platform %+v, want linux/amd64", i, m.Platform)
		}
	}

	// The manifest, its config and its layer.
	var manifest ocispec.Manifest
	unmarshal(t, blob(t, entries, built.Manifest), &manifest)
	if manifest.SchemaVersion != 2 || manifest.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("manifest: schemaVersion %d, mediaType %q", manifest.SchemaVersion, manifest.MediaType)
	}
	if manifest.Config.MediaType != ocispec.MediaTypeImageConfig || manifest.Config.Digest != built.Config.Digest {
		t.Errorf("manifest.config = %+v, want %+v", manifest.Config, built.Config)
	}
	if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayer || manifest.Layers[0].Digest != built.Layer.Digest {
		t.Fatalf("manifest.layers = %+v, want one uncompressed layer %s", manifest.Layers, built.Layer.Digest)
	}
	var config ocispec.Image
	unmarshal(t, blob(t, entries, manifest.Config), &config)
	wantConfig := ocispec.ImageConfig{
		Entrypoint:   testSpec.Entrypoint,
		Cmd:          testSpec.Cmd,
		Env:          testSpec.Env,
		WorkingDir:   "/work",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
	}
	if !reflect.DeepEqual(config.Config, wantConfig) {
		t.Errorf("config.config:\n got %+v\nwant %+v", config.Config, wantConfig)
	}
	if config.OS != "linux" || config.Architecture != "amd64" {
		t.Errorf("config: platform %s/%s, want linux/amd64", config.OS, config.Architecture)
	}
	// An uncompressed layer's diff ID is its digest.
	if config.RootFS.Type != "layers" || !reflect.DeepEqual(config.RootFS.DiffIDs, []digest.Digest{built.Layer.Digest}) {
		t.Errorf("config.rootfs = %+v, want layers [%s]", config.RootFS, built.Layer.Digest)
	}
	checkLayer(t, blob(t, entries, manifest.Layers[0]))
}

// checkLayer checks the layer of testSpec: sorted, parents first, implicit
// parents made, modes, links and contents as given, owned by root, dated Epoch.
func checkLayer(t *testing.T, layer []byte) {
	t.Helper()
	names, entries := readTar(t, layer)
	want := []string{"bin/", "bin/prog", "bin/sh", "etc/", "etc/passwd", "tmp/", "work/"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("layer entries:\n got %q\nwant %q", names, want)
	}
	for _, c := range []struct {
		name     string
		typeflag byte
		mode     int64
		link     string
		content  string
	}{
		{"bin/", tar.TypeDir, 0o755, "", ""},
		{"bin/prog", tar.TypeReg, 0o755, "", "#!program\n"},
		{"bin/sh", tar.TypeSymlink, 0o777, "prog", ""},
		{"etc/passwd", tar.TypeReg, 0o644, "", "root:x:0:0:root:/root:/bin/sh\n"},
		{"tmp/", tar.TypeDir, 0o1777, "", ""},
		{"work/", tar.TypeDir, 0o750, "", ""},
	} {
		e, ok := entries[c.name]
		if !ok {
			t.Errorf("layer: no %s", c.name)
			continue
		}
		h := e.hdr
		if h.Typeflag != c.typeflag || h.Mode != c.mode || h.Linkname != c.link || string(e.content) != c.content {
			t.Errorf("layer: %s = type %c mode %o link %q content %q, want type %c mode %o link %q content %q",
				c.name, h.Typeflag, h.Mode, h.Linkname, e.content, c.typeflag, c.mode, c.link, c.content)
		}
	}
	for _, name := range names {
		h := entries[name].hdr
		if !h.ModTime.Equal(Epoch) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("layer: %s: mtime %v, owner %d:%d %q:%q; want %v, 0:0", name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname, Epoch)
		}
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	first, err := Build(testSpec, testSources)
	if err != nil {
		t.Fatal(err)
	}
	// The same files listed in another order make the same image.
	shuffled := testSpec
	shuffled.Files = append([]File(nil), testSpec.Files...)
	for i, j := 0, len(shuffled.Files)-1; i < j; i, j = i+1, j-1 {
		shuffled.Files[i], shuffled.Files[j] = shuffled.Files[j], shuffled.Files[i]
	}
	second, err := Build(shuffled, testSources)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Tar, second.Tar) || first.Manifest.Digest != second.Manifest.Digest {
		t.Errorf("two builds of the same spec differ: %s and %s", first.Manifest.Digest, second.Manifest.Digest)
	}
	// Another content makes another image.
	other, err := Build(testSpec, fstest.MapFS{"host/prog": {Data: []byte("#!other\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if other.Manifest.Digest == first.Manifest.Digest {
		t.Errorf("another program gives the same digest %s", first.Manifest.Digest)
	}
}

func TestBuildRejectsBadSpecs(t *testing.T) {
	with := func(change func(*Spec)) Spec {
		s := testSpec
		s.Names = append([]string(nil), testSpec.Names...)
		s.Files = append([]File(nil), testSpec.Files...)
		change(&s)
		return s
	}
	for _, c := range []struct {
		name    string
		spec    Spec
		wantErr string
	}{
		{"no names", with(func(s *Spec) { s.Names = nil }), "spec.Names: Required value"},
		{"short name", with(func(s *Spec) { s.Names[0] = "busybox:latest" }), `"busybox:latest"`},
		{"no tag", with(func(s *Spec) { s.Names[0] = "docker.io/library/busybox" }), "needs a tag"},
		{"no architecture", with(func(s *Spec) { s.Architecture = "" }), "spec.Architecture"},
		{"relative path", with(func(s *Spec) { s.Files[0].Path = "bin/prog" }), "must be absolute"},
		{"root", with(func(s *Spec) { s.Files = append(s.Files, Dir("/", 0o755)) }), "root is implicit"},
		{"twice", with(func(s *Spec) { s.Files = append(s.Files, Text("/bin//prog", 0o644, "x")) }), "listed twice"},
		{"parent not a dir", with(func(s *Spec) { s.Files = append(s.Files, Text("/etc/passwd/x", 0o644, "x")) }), "is not a directory"},
		{"missing source", with(func(s *Spec) { s.Files[0].Source = "/host/missing" }), "/host/missing"},
		{"content and source", with(func(s *Spec) { s.Files[0].Content = []byte("x") }), "both Content and Source"},
		{"device", with(func(s *Spec) { s.Files = append(s.Files, File{Path: "/dev/null", Mode: fs.ModeDevice}) }), "only regular files"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(c.spec, testSources)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Build: error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// TestCatalogue builds every image of the Catalogue from stand-in programs.
func TestCatalogue(t *testing.T) {
	src := fstest.MapFS{"prog": {Data: []byte("program")}}
	seenNames := map[string]string{}
	seenFiles := map[string]bool{}
	for _, e := range Catalogue {
		if seenFiles[e.File] {
			t.Errorf("%s: two entries have this file", e.File)
		}
		seenFiles[e.File] = true
		spec, err := e.Spec("/prog", []string{"busybox", "sh", "ls", "wget"}, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		built, err := Build(spec, src)
		if err != nil {
			t.Fatalf("%s: %v", e.File, err)
		}
		for _, name := range e.Names {
			if other, dup := seenNames[name]; dup {
				t.Errorf("%s: name %s is also %s's", e.File, name, other)
			}
			seenNames[name] = e.File
		}
		_, entries := readTar(t, built.Tar)
		var manifest ocispec.Manifest
		unmarshal(t, blob(t, entries, built.Manifest), &manifest)
		_, files := readTar(t, blob(t, entries, manifest.Layers[0]))
		for _, want := range []string{"etc/passwd", "etc/group", "tmp/", strings.TrimPrefix(e.Binary, "/")} {
			if _, ok := files[want]; !ok {
				t.Errorf("%s: no %s in the image", e.File, want)
			}
		}
		if h := files["tmp/"].hdr; h == nil || h.Mode != 0o1777 {
			t.Errorf("%s: /tmp is not 1777", e.File)
		}
		if e.Applets {
			if h := files["bin/sh"].hdr; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
				t.Errorf("%s: /bin/sh is not a link to busybox: %+v", e.File, h)
			}
			if _, ok := files["bin/busybox"]; !ok || files["bin/busybox"].hdr.Typeflag != tar.TypeReg {
				t.Errorf("%s: /bin/busybox is not the program (a link to itself?)", e.File)
			}
		}
	}
	for _, name := range []string{Pause, Busybox, Demo} {
		if seenNames[name] == "" {
			t.Errorf("%s is in no image of the Catalogue", name)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"busybox", Busybox},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"tinykube/demo:1.0", Demo},
		{"registry.k8s.io/pause:3.10", Pause},
		{"docker.io/library/busybox:latest", Busybox},
	} {
		got, err := Normalize(c.in)
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := Normalize("Busybox"); err == nil {
		t.Errorf("Normalize(%q): no error", "Busybox")
	}
}

// TestMake runs what `make images` runs: the real programs, the real
// busybox, twice.
func TestMake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the images' Go programs: skipped under -short")
	}
	if _, err := os.Stat("/usr/bin/busybox"); err != nil {
		t.Skipf("needs Debian's busybox-static (/usr/bin/busybox): %v", err)
	}
	out := t.TempDir()
	first, err := Make(context.Background(), Options{Out: out, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(Catalogue) {
		t.Fatalf("Make: %d results for %d images", len(first), len(Catalogue))
	}
	for i, r := range first {
		if !r.Changed {
			t.Errorf("%s: first Make did not write it", r.Entry.File)
		}
		data, err := os.ReadFile(filepath.Join(out, r.Entry.File))
		if err != nil {
			t.Fatal(err)
		}
		_, entries := readTar(t, data)
		var index ocispec.Index
		unmarshal(t, entries["index.json"].content, &index)
		if index.Manifests[0].Digest != r.Digest {
			t.Errorf("%s: index.json points to %s, Make said %s", r.Entry.File, index.Manifests[0].Digest, r.Digest)
		}
		var manifest ocispec.Manifest
		unmarshal(t, blob(t, entries, index.Manifests[0]), &manifest)
		_, files := readTar(t, blob(t, entries, manifest.Layers[0]))
		program := files[strings.TrimPrefix(Catalogue[i].Binary, "/")].content
		checkStatic(t, r.Entry.File, program)
	}
	// Nothing changed: nothing is written, and the digests are the same.
	second, err := Make(context.Background(), Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range second {
		if r.Changed || r.Digest != first[i].Digest {
			t.Errorf("%s: second Make changed it (%v) or its digest (%s, then %s)", r.Entry.File, r.Changed, first[i].Digest, r.Digest)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(out, "*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("Make left temporary files: %v", leftovers)
	}
}

// checkStatic checks that program is an ELF executable without a dynamic
// loader: the images hold no C library for one to load.
func checkStatic(t *testing.T, image string, program []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(program))
	if err != nil {
		t.Errorf("%s: the program is not an ELF file: %v", image, err)
		return
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: the program is dynamically linked (it has an ELF interpreter)", image)
		}
	}
}
