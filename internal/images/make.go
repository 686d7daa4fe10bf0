package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// Options say where Make writes and what it builds.
type Options struct {
	// Out is the directory of the tarballs; Make creates it.
	Out string
	// Go is the go command that builds the images' programs ("go" if empty).
	Go string
	// Entries are the images to build (the Catalogue if nil).
	Entries []Entry
	// Logf, if set, is told what Make does, one line per step.
	Logf func(format string, args ...any)
}

// Result is what Make did for one image.
type Result struct {
	Entry Entry
	// Path is the tarball.
	Path string
	// Size is the tarball's size in bytes.
	Size int64
	// Digest is the image's (its manifest's) digest.
	Digest digest.Digest
	// Changed is false when the tarball already held these exact bytes
	// and was left alone (its modification time too).
	Changed bool
	// Took is how long building the tarball took (not the Go build).
	Took time.Duration
}

// Make builds the tarball of every entry into opts.Out:
//
//  1. it builds the Go programs of the entries, static, with one `go
//     build` into a temporary directory (the go command's cache makes this
//     fast when nothing changed);
//  2. it lists the applets of the entries that have some (`busybox --list`);
//  3. it builds each image with Build and writes <Out>/<File>, unless the
//     file already holds the same bytes. A tarball is written to a
//     temporary name first, then renamed: a reader never sees half of one.
//
// The images are for the build machine's architecture. Make must run
// inside this module (the go command finds the packages there).
func Make(ctx context.Context, opts Options) ([]Result, error) {
	entries := opts.Entries
	if entries == nil {
		entries = Catalogue
	}
	goCmd := opts.Go
	if goCmd == "" {
		goCmd = "go"
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	tmp, err := os.MkdirTemp("", "tinykube-images-")
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	defer os.RemoveAll(tmp)

	// 1. The Go programs.
	programs := map[string]string{} // entry file → build machine's path of its program
	var packages []string
	for _, e := range entries {
		if e.Package != "" {
			packages = append(packages, e.Package)
			programs[e.File] = filepath.Join(tmp, path.Base(e.Package))
		} else {
			programs[e.File] = e.HostFile
		}
	}
	if len(packages) > 0 {
		start := time.Now()
		if err := goBuild(ctx, goCmd, tmp, packages); err != nil {
			return nil, err
		}
		logf("built %s (%v)", strings.Join(packages, " "), time.Since(start).Round(time.Millisecond))
	}

	var results []Result
	for _, e := range entries {
		start := time.Now()
		program := programs[e.File]
		// 2. The applets.
		var applets []string
		if e.Applets {
			out, err := exec.CommandContext(ctx, program, "--list").Output()
			if err != nil {
				return results, fmt.Errorf("images: %s --list: %w", program, err)
			}
			applets = strings.Split(strings.TrimSpace(string(out)), "\n")
		}
		// 3. The tarball.
		spec, err := e.Spec(program, applets, runtime.GOARCH)
		if err != nil {
			return results, err
		}
		built, err := Build(spec, os.DirFS("/"))
		if err != nil {
			return results, err
		}
		file := filepath.Join(opts.Out, e.File)
		changed, err := writeIfChanged(file, built.Tar)
		if err != nil {
			return results, fmt.Errorf("images: %w", err)
		}
		r := Result{Entry: e, Path: file, Size: int64(len(built.Tar)), Digest: built.Manifest.Digest, Changed: changed, Took: time.Since(start)}
		results = append(results, r)
		state := "unchanged"
		if changed {
			state = "written"
		}
		logf("%-12s %-9s %7.1f MiB  %s  %s  (%v)", e.File, state, float64(r.Size)/(1<<20), r.Digest,
			strings.Join(e.Names, ", "), r.Took.Round(time.Millisecond))
	}
	return results, nil
}

// goBuild builds the main packages into dir, static and reproducible:
// without cgo, without the build machine's paths (-trimpath), stripped.
func goBuild(ctx context.Context, goCmd, dir string, packages []string) error {
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", dir + "/"}, packages...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("images: %s %s: %w\n%s", goCmd, strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

// writeIfChanged writes data to file unless file already holds it, through
// a temporary file renamed into place. The temporary name does not end in
// .tar: whoever imports every *.tar of the directory must not see it.
func writeIfChanged(file string, data []byte) (bool, error) {
	if old, err := os.ReadFile(file); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}
