// Package chapter03 runs chapter 3's scenarios (testdata/script): nodes
// that register, and pods that run as real containers with their own
// network, driven by the real kubectl.
package chapter03

import (
	"testing"

	"github.com/tinykube/tinykube/internal/scenario"
)

func TestScenarios(t *testing.T) { scenario.Run(t, "testdata/script") }
