// Package chapter07 runs chapter 7's scenarios (testdata/script): service
// discovery by name through the cluster DNS, asked from pods on both nodes
// with the resolvers they really use, and the benchmark of the chapter's
// figures (bench_test.go).
package chapter07

import (
	"testing"

	"github.com/tinykube/tinykube/internal/scenario"
)

func TestScenarios(t *testing.T) { scenario.Run(t, "testdata/script") }
