package controllermanager

import (
	"context"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// The ReplicationController controller: the course notes' RC
// (副本控制器: "Kubernetes creates and destroys pods from the RC's pod
// template to keep the expected number"). An RC is the ReplicaSet's
// ancestor: the same spec, except that its selector is a plain map of
// labels (app: mysql) where a ReplicaSet's may also say matchExpressions.
// So, as in Kubernetes (pkg/controller/replication/conversion.go), the RC
// controller is the ReplicaSet logic of replicas.go reading each RC as a
// ReplicaSet and writing the status back to the RC.

// newReplicationControllerController is the ReplicationController
// controller.
func newReplicationControllerController(c *Context) (Controller, error) {
	informer := c.Informers.Core().V1().ReplicationControllers()
	owners := replicationControllers{lister: informer.Lister(), client: c.Client}
	return newReplicaManager("replicationcontroller-controller", corev1.SchemeGroupVersion.WithKind("ReplicationController"), owners,
		informer.Informer(), c.Informers.Core().V1().Pods(), c.Client, c.Recorder("replication-controller")), nil
}

// replicationControllers reads and writes RCs as ReplicaSets.
type replicationControllers struct {
	lister corelisters.ReplicationControllerLister
	client kubernetes.Interface
}

var _ replicaOwners = replicationControllers{}

func (r replicationControllers) Get(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error) {
	rc, err := r.lister.ReplicationControllers(namespace).Get(name)
	if err != nil {
		return nil, nil, err
	}
	return replicaSetFromRC(rc), rc, nil
}

func (r replicationControllers) List(namespace string) ([]*appsv1.ReplicaSet, error) {
	rcs, err := r.lister.ReplicationControllers(namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.ReplicaSet, 0, len(rcs))
	for _, rc := range rcs {
		out = append(out, replicaSetFromRC(rc))
	}
	return out, nil
}

func (r replicationControllers) GetLive(ctx context.Context, namespace, name string) (*appsv1.ReplicaSet, error) {
	rc, err := r.client.CoreV1().ReplicationControllers(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return replicaSetFromRC(rc), nil
}

// UpdateStatus writes the status to the RC of the same name, with rs's
// resourceVersion as the precondition.
func (r replicationControllers) UpdateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	rc, err := r.lister.ReplicationControllers(rs.Namespace).Get(rs.Name)
	if err != nil {
		return nil, err
	}
	rc = rc.DeepCopy()
	rc.ResourceVersion = rs.ResourceVersion
	rc.Status = rcStatusFrom(rs.Status)
	updated, err := r.client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return replicaSetFromRC(updated), nil
}

// replicaSetFromRC reads an RC as a ReplicaSet: same metadata (name, UID,
// generation), same replicas and template, the selector map as
// matchLabels.
func replicaSetFromRC(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: *rc.ObjectMeta.DeepCopy(),
		Spec: appsv1.ReplicaSetSpec{
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: maps.Clone(rc.Spec.Selector)},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas: rc.Status.Replicas, FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas: rc.Status.ReadyReplicas, AvailableReplicas: rc.Status.AvailableReplicas,
			ObservedGeneration: rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Replicas != nil {
		n := *rc.Spec.Replicas
		rs.Spec.Replicas = &n
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template.DeepCopy()
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status, LastTransitionTime: c.LastTransitionTime,
			Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}

// rcStatusFrom is a ReplicaSet status as an RC's.
func rcStatusFrom(st appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{
		Replicas: st.Replicas, FullyLabeledReplicas: st.FullyLabeledReplicas,
		ReadyReplicas: st.ReadyReplicas, AvailableReplicas: st.AvailableReplicas,
		ObservedGeneration: st.ObservedGeneration,
	}
	for _, c := range st.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status, LastTransitionTime: c.LastTransitionTime,
			Reason: c.Reason, Message: c.Message,
		})
	}
	return out
}
