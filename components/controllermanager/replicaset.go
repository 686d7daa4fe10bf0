package controllermanager

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// The ReplicaSet controller: a ReplicaSet's pods, as many as
// spec.replicas, made from spec.template and matching spec.selector
// (labels, or expressions: "tier in (front, cache)"). The logic is
// replicas.go's, shared with the ReplicationController controller; this
// file only reads and writes ReplicaSets for it. A Deployment drives
// ReplicaSets: it makes a new one for each version of its template and
// scales them (the deployment controller, part B of the chapter).

// newReplicaSetController is the ReplicaSet controller.
func newReplicaSetController(c *Context) (Controller, error) {
	informer := c.Informers.Apps().V1().ReplicaSets()
	owners := replicaSets{lister: informer.Lister(), client: c.Client}
	return newReplicaManager("replicaset-controller", appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), owners,
		informer.Informer(), c.Informers.Core().V1().Pods(), c.Client, c.Recorder("replicaset-controller")), nil
}

// replicaSets reads and writes ReplicaSets for the replica logic.
type replicaSets struct {
	lister appslisters.ReplicaSetLister
	client kubernetes.Interface
}

var _ replicaOwners = replicaSets{}

func (r replicaSets) Get(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error) {
	rs, err := r.lister.ReplicaSets(namespace).Get(name)
	if err != nil {
		return nil, nil, err
	}
	return rs.DeepCopy(), rs, nil
}

func (r replicaSets) List(namespace string) ([]*appsv1.ReplicaSet, error) {
	return r.lister.ReplicaSets(namespace).List(labels.Everything())
}

func (r replicaSets) GetLive(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	return r.client.AppsV1().ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (r replicaSets) UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	return r.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
}
