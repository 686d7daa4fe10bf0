// Package chapter05 runs chapter 5's scenarios (testdata/script): the
// controller-manager keeps the desired state: replicas, endpoints, garbage
// collection, namespaces, service accounts.
package chapter05

import (
	"testing"

	"github.com/tinykube/tinykube/internal/scenario"
)

func TestScenarios(t *testing.T) { scenario.Run(t, "testdata/script") }
