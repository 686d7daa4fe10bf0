// Package chapter01 runs chapter 1's scenarios (testdata/script): etcd on
// the master, reached with the real etcdctl.
package chapter01

import (
	"testing"

	"github.com/tinykube/tinykube/internal/scenario"
)

func TestScenarios(t *testing.T) { scenario.Run(t, "testdata/script") }
