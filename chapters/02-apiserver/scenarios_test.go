// Package chapter02 runs chapter 2's scenarios (testdata/script): the
// apiserver over etcd, driven by the real kubectl.
package chapter02

import (
	"testing"

	"github.com/tinykube/tinykube/internal/scenario"
)

func TestScenarios(t *testing.T) { scenario.Run(t, "testdata/script") }
