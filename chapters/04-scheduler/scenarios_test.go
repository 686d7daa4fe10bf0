// Package chapter04 runs chapter 4's scenarios (testdata/script): pods
// without a node get one from the scheduler, for reasons a student can
// read, driven by the real kubectl.
package chapter04

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tinykube/tinykube/components/scheduler"
	"github.com/tinykube/tinykube/internal/scenario"
)

// TestMain gives the scripts one more program, second-scheduler: a
// scheduler run outside the cluster's agent, as a student's own would
// run beside the reference one.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"second-scheduler": secondScheduler})
}

func TestScenarios(t *testing.T) { scenario.Run(t, "testdata/script") }

// secondScheduler runs the reference scheduler under a name of its own
// until it is interrupted:
//
//	second-scheduler -name NAME [-kubeconfig PATH]
//
// The kubeconfig defaults to the script's cluster's admin.conf.
func secondScheduler() {
	fs := flag.NewFlagSet("second-scheduler", flag.ExitOnError)
	name := fs.String("name", "", "the scheduler's name: it takes the pods whose spec.schedulerName is this")
	kubeconfig := fs.String("kubeconfig", filepath.Join(os.Getenv("TINYKUBE_STATE_ROOT"), os.Getenv("TINYKUBE_CLUSTER"), "admin.conf"), "how to reach the apiserver")
	fs.Parse(os.Args[1:])
	if *name == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: second-scheduler -name NAME [-kubeconfig PATH]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := scheduler.DefaultConfig(*kubeconfig)
	cfg.SchedulerName = *name
	if err := scheduler.Run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "second-scheduler: %v\n", err)
		os.Exit(1)
	}
}
