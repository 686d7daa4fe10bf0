// Package chapter06 runs chapter 6's scenarios (testdata/script): Services
// that route and balance through kube-proxy's iptables rules, driven by the
// real kubectl, and the benchmark of the chapter's figures (bench_test.go).
package chapter06

import (
	"testing"

	"github.com/tinykube/tinykube/internal/scenario"
)

func TestScenarios(t *testing.T) { scenario.Run(t, "testdata/script") }
