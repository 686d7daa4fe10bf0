package controllermanager

import (
	"fmt"
	"slices"
	"strings"
)

// Registration names a controller and says how to build it.
type Registration struct {
	// Name is the controller's name in kube-controller-manager's
	// --controllers list (and in the setting `controllers`).
	Name string
	// Aliases are older names that mean the same controller
	// (kube-controller-manager still accepts "replicaset" for
	// "replicaset-controller").
	Aliases []string
	// Workers is how many keys the controller syncs at once
	// (kube-controller-manager's --concurrent-*-syncs).
	Workers int
	// New builds the controller from the shared clients and informers.
	New func(*Context) (Controller, error)
}

// Controllers is every controller of the controller-manager, in the order
// they are built. Adding a controller is one line here plus its file; a lab
// turns one off (controllers: "*,-replicaset-controller") and runs the
// student's instead.
var Controllers = []Registration{
	{"replicationcontroller-controller", []string{"replicationcontroller"}, 5, newReplicationControllerController},
	{"replicaset-controller", []string{"replicaset"}, 5, newReplicaSetController},
	{"deployment-controller", []string{"deployment"}, 5, newDeploymentController},
	{"daemonset-controller", []string{"daemonset"}, 2, newDaemonSetController},
	{"statefulset-controller", []string{"statefulset"}, 5, newStatefulSetController},
	{"endpoints-controller", []string{"endpoint"}, 5, newEndpointsController},
	{"endpointslice-controller", []string{"endpointslice"}, 5, newEndpointSliceController},
	{"garbage-collector-controller", []string{"garbagecollector"}, 20, newGarbageCollector},
	{"node-lifecycle-controller", []string{"nodelifecycle"}, 1, newNodeLifecycleController},
	{"taint-eviction-controller", nil, 1, newTaintEvictionController},
	{"namespace-controller", []string{"namespace"}, 10, newNamespaceController},
	{"serviceaccount-controller", []string{"serviceaccount"}, 1, newServiceAccountController},
	{"root-ca-certificate-publisher-controller", []string{"root-ca-cert-publisher"}, 1, newRootCAPublisher},
	{"job-controller", []string{"job"}, 5, newJobController},
	{"cronjob-controller", []string{"cronjob"}, 5, newCronJobController},
	{"ttl-after-finished-controller", []string{"ttl-after-finished"}, 5, newTTLAfterFinishedController},
	{"pod-garbage-collector-controller", []string{"podgc"}, 1, newPodGCController},
	{"resourcequota-controller", []string{"resourcequota"}, 5, newResourceQuotaController},
	{"horizontal-pod-autoscaler-controller", []string{"horizontalpodautoscaling"}, 5, newHorizontalPodAutoscalerController},
}

// Enabled returns the controllers the setting `controllers` turns on, in
// registry order. The setting reads as kube-controller-manager's
// --controllers: a comma-separated list where "*" is every controller,
// "name" turns one on and "-name" turns one off; "" means "*".
func Enabled(setting string, registry []Registration) ([]Registration, error) {
	if strings.TrimSpace(setting) == "" {
		setting = "*"
	}
	all, on, off := false, map[string]bool{}, map[string]bool{}
	for _, item := range strings.Split(setting, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "*":
			all = true
		case item == "" || item == "-":
			return nil, fmt.Errorf("setting controllers=%q: an empty name; want e.g. \"*,-replicaset-controller\"", setting)
		default:
			name, disable := strings.CutPrefix(item, "-")
			reg, ok := find(name, registry)
			if !ok {
				return nil, fmt.Errorf("setting controllers=%q: no controller %q; controllers are %s", setting, name, names(registry))
			}
			if disable {
				off[reg.Name] = true
			} else {
				on[reg.Name] = true
			}
		}
	}
	var out []Registration
	for _, reg := range registry {
		if (all || on[reg.Name]) && !off[reg.Name] {
			out = append(out, reg)
		}
	}
	return out, nil
}

func find(name string, registry []Registration) (Registration, bool) {
	for _, reg := range registry {
		if reg.Name == name || slices.Contains(reg.Aliases, name) {
			return reg, true
		}
	}
	return Registration{}, false
}

func names(registry []Registration) string {
	var out []string
	for _, reg := range registry {
		out = append(out, reg.Name)
	}
	return strings.Join(out, ", ")
}
