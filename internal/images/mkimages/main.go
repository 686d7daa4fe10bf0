// Command mkimages builds the images of the Catalogue as OCI image layout
// tarballs, one per image, for containerd to import without a registry:
//
//	go run ./internal/images/mkimages -out bin/images
//
// It prints one line per image: its tarball, whether it changed, its size,
// its digest and its names. Run again with nothing changed, it rewrites
// nothing. `make images` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tinykube/tinykube/internal/images"
)

func main() {
	out := flag.String("out", "bin/images", "directory of the image tarballs")
	goCmd := flag.String("go", "go", "the go command that builds the images' programs")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	if _, err := images.Make(ctx, images.Options{Out: *out, Go: *goCmd, Logf: logf}); err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(1)
	}
}
