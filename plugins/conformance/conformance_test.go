package conformance_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinykube/tinykube/plugins/conformance"
)

var binary = flag.String("binary", "", "a component binary to check against the contract (a student's, say)")

// TestBinary checks the binary given with -binary:
//
//	go test ./plugins/conformance -run TestBinary -binary /path/to/my-scheduler
func TestBinary(t *testing.T) {
	if *binary == "" {
		t.Skip("no -binary given")
	}
	path := *binary
	if !filepath.IsAbs(path) {
		// go test runs in this package's directory; a relative path is
		// meant from the repository's top, where the command was typed.
		path = filepath.Join("..", "..", path)
	}
	conformance.RunBinary(t, path)
}

// TestReference checks every reference component binary that `make build`
// put in bin/, exactly as the agent runs them.
func TestReference(t *testing.T) {
	bins := conformance.Binaries(filepath.Join("..", "..", "bin"))
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no reference component binaries in bin/: `make build` must run before the tests")
		}
		t.Skip("no reference component binaries in bin/: run `make build` first")
	}
	for kind, path := range bins {
		t.Run(kind, func(t *testing.T) { conformance.RunBinary(t, path) })
	}
}

// TestAlternatives checks the alternative components the scenarios swap in.
func TestAlternatives(t *testing.T) {
	path := filepath.Join("..", "..", "bin", "testcomponents", "memetcd")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: `make build` must run before the tests", path)
		}
		t.Skip("bin/testcomponents/memetcd missing: run `make build` first")
	}
	conformance.RunBinary(t, path)
}
