// Command kubectl is the real kubectl, built from the k8s.io/kubectl module
// exactly as upstream's cmd/kubectl builds it, so students use the very
// tool they will use on any Kubernetes cluster. `make build` sets its
// version; `tinykube kubectl ...` runs it with the cluster's kubeconfig.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
