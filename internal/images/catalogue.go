package images

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/distribution/reference"
)

// The names of the images pods use. The kubelet runs Pause as every pod's
// first container (the "sandbox", which holds the pod's namespaces); a
// manifest's `image: busybox` means Busybox once normalized, as Docker and
// the CRI do: docker.io/library/ is added to a bare name, :latest to a name
// without a tag.
const (
	Pause   = "registry.k8s.io/pause:3.10"
	Busybox = "docker.io/library/busybox:latest"
	Demo    = "docker.io/tinykube/demo:1.0"
)

// Normalize returns the full name containerd knows an image by, as Docker
// and the CRI expand it: "busybox" is docker.io/library/busybox:latest,
// "tinykube/demo:1.0" is docker.io/tinykube/demo:1.0. A name with a digest
// keeps only the digest.
func Normalize(image string) (string, error) {
	ref, err := reference.ParseDockerRef(image)
	if err != nil {
		return "", fmt.Errorf("images: %q: %w", image, err)
	}
	return ref.String(), nil
}

// Module is this module's path; the Go programs of the images are packages
// under it.
const Module = "github.com/tinykube/tinykube"

// Entry is one image of the Catalogue: its names, the one program it is
// made around, and how its containers start.
type Entry struct {
	// File is the image's tarball in the images directory, e.g. "pause.tar".
	File string
	// Names are the image's full references; the first is its main name.
	Names []string

	// The program comes from exactly one of Package and HostFile.
	//
	// Package is a Go main package of this module, built static
	// (CGO_ENABLED=0): the image holds nothing else it could link to.
	Package string
	// HostFile is a static binary of the build machine, copied as is.
	HostFile string
	// Binary is where the program goes in the image.
	Binary string
	// Applets adds, next to Binary, one symlink to it per name that
	// `Binary --list` prints: busybox is sh, ls, wget... by the name it
	// is called with.
	Applets bool

	// Entrypoint and Cmd are the image's default process (see Spec).
	Entrypoint []string
	Cmd        []string
	// ExposedPorts documents where the program listens ("8080/tcp").
	ExposedPorts []string
}

// Catalogue lists every image `make images` builds, one tarball each.
var Catalogue = []Entry{
	{
		// PID 1 of every pod: it only waits, reaps orphans, and exits 0
		// on SIGTERM. Source: testdata/images/pause.
		File:       "pause.tar",
		Names:      []string{Pause},
		Package:    Module + "/testdata/images/pause",
		Binary:     "/pause",
		Entrypoint: []string{"/pause"},
	},
	{
		// A small userland for `kubectl run -it --image=busybox -- sh`
		// and the course notes' examples: Debian's busybox-static.
		File:     "busybox.tar",
		Names:    []string{Busybox, "docker.io/library/busybox:1.36"},
		HostFile: "/usr/bin/busybox",
		Binary:   "/bin/busybox",
		Applets:  true,
		Cmd:      []string{"sh"},
	},
	{
		// An HTTP server that says which pod, node and client it serves:
		// Services and load balancing made visible. Source:
		// testdata/images/demo.
		File:         "demo.tar",
		Names:        []string{Demo, "docker.io/tinykube/demo:latest", "docker.io/tinykube/demo:2.0"}, // 2.0: the same image, to roll out to
		Package:      Module + "/testdata/images/demo",
		Binary:       "/demo",
		Entrypoint:   []string{"/demo"},
		ExposedPorts: []string{"8080/tcp"},
	},
}

// Path is the PATH of every image, Docker's default.
const Path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// baseFiles are in every image: the users and groups that programs and
// `ps` look up, and a world-writable /tmp. /etc/hosts and
// /etc/resolv.conf are not: the kubelet mounts the pod's own on them.
func baseFiles() []File {
	return []File{
		Text("/etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
		Text("/etc/group", 0o644, "root:x:0:\nnobody:x:65534:\n"),
		Dir("/root", 0o700),
		Dir("/tmp", fs.ModeSticky|0o777),
	}
}

// Spec returns the spec of e's image for architecture arch (a GOARCH).
// program is the build machine's file to copy to e.Binary (e.HostFile, or
// where e.Package was built); applets are the lines of `program --list`
// when e.Applets is set.
func (e Entry) Spec(program string, applets []string, arch string) (Spec, error) {
	if (e.Package == "") == (e.HostFile == "") {
		return Spec{}, fmt.Errorf("images: %s: exactly one of Package and HostFile", e.File)
	}
	files := append(baseFiles(), Copy(e.Binary, 0o755, program))
	if e.Applets {
		dir, self := path.Split(e.Binary)
		for _, applet := range applets {
			applet = strings.TrimSpace(applet)
			if applet == "" || applet == self || strings.Contains(applet, "/") {
				continue
			}
			// Relative, so that the link also works in the layer unpacked
			// anywhere on the host (e.g. when a student looks at a snapshot).
			files = append(files, Symlink(dir+applet, self))
		}
	}
	return Spec{
		Names:        e.Names,
		Architecture: arch,
		Entrypoint:   e.Entrypoint,
		Cmd:          e.Cmd,
		Env:          []string{Path},
		ExposedPorts: e.ExposedPorts,
		Files:        files,
	}, nil
}
