package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// KubeletVersion is the Kubernetes version the kubelet reports.
const KubeletVersion = "v1.37.2"

// Heartbeat timings, as in Kubernetes: the Lease is renewed every 10 s,
// a quarter of its duration (nodeLeaseDurationSeconds 40, the node
// controller's default grace period; setting node-lease-duration-seconds),
// the Node's status is written when it changes, or once a minute.
const (
	LeaseDuration        = 40 * time.Second
	LeaseRenewInterval   = 10 * time.Second
	NodeStatusMaxSilence = time.Minute
	MaxPods              = 110
)

// NodeFacts is what the kubelet reads off its machine for the Node object.
type NodeFacts struct {
	Name, Address, PodCIDR string
	CPUs                   int
	MemoryBytes            int64
	Kernel, OSImage        string
	Runtime                string // containerd://1.6.20
	MachineID, BootID      string
	// Images are the images on the node (Runtime.NodeImages): the
	// scheduler's ImageLocality prefers nodes that have a pod's images.
	Images []corev1.ContainerImage
}

// ReadNodeFacts reads the machine: CPUs, memory, kernel, OS, IDs.
func ReadNodeFacts(name, address, podCIDR, runtimeVersion string) NodeFacts {
	f := NodeFacts{Name: name, Address: address, PodCIDR: podCIDR, CPUs: runtime.NumCPU(), Runtime: runtimeVersion}
	f.MemoryBytes = memTotal()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		f.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	f.OSImage = osImage()
	f.MachineID = strings.TrimSpace(readFile("/etc/machine-id"))
	f.BootID = strings.TrimSpace(readFile("/proc/sys/kernel/random/boot_id"))
	return f
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func osImage() string {
	for _, line := range strings.Split(readFile("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// NodeObject is the Node the kubelet registers: its identity, capacity,
// addresses and conditions, as `kubectl describe node` shows them.
func NodeObject(f NodeFacts, now time.Time) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(f.CPUs), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(f.MemoryBytes, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(MaxPods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("20Gi"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: f.Name,
			Labels: map[string]string{
				"kubernetes.io/hostname":  f.Name,
				"kubernetes.io/os":        "linux",
				"kubernetes.io/arch":      runtime.GOARCH,
				"beta.kubernetes.io/os":   "linux",
				"beta.kubernetes.io/arch": runtime.GOARCH,
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: f.PodCIDR, PodCIDRs: []string{f.PodCIDR}},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: f.Address},
				{Type: corev1.NodeHostName, Address: f.Name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: KubeletPort}},
			Images:          f.Images,
			NodeInfo: corev1.NodeSystemInfo{
				MachineID:               f.MachineID,
				SystemUUID:              f.MachineID,
				BootID:                  f.BootID,
				KernelVersion:           f.Kernel,
				OSImage:                 f.OSImage,
				ContainerRuntimeVersion: f.Runtime,
				KubeletVersion:          KubeletVersion,
				OperatingSystem:         "linux",
				Architecture:            runtime.GOARCH,
			},
		},
	}
	node.Status.Conditions = NodeConditions(nil, now)
	return node
}

// NodeConditions are the kubelet's conditions: Ready, and no memory,
// disk or PID pressure (tinykube does not evict). A condition keeps its
// lastTransitionTime while its status holds.
func NodeConditions(old []corev1.NodeCondition, now time.Time) []corev1.NodeCondition {
	t := metav1.NewTime(now)
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
	}
	for i := range conds {
		conds[i].LastHeartbeatTime, conds[i].LastTransitionTime = t, t
		for _, o := range old {
			if o.Type == conds[i].Type && o.Status == conds[i].Status {
				conds[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return conds
}

// register creates the Node, or takes over the one a previous run left:
// its status is rewritten, its labels and taints kept.
func register(ctx context.Context, cs kubernetes.Interface, want *corev1.Node) error {
	_, err := cs.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if err == nil || !apierrors.IsAlreadyExists(err) {
		return err
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if node.Spec.PodCIDR == "" {
		node.Spec.PodCIDR, node.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
		if node, err = cs.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	for k, v := range want.Labels {
		if node.Labels == nil {
			node.Labels = map[string]string{}
		}
		node.Labels[k] = v
	}
	status := want.Status
	status.Conditions = NodeConditions(node.Status.Conditions, time.Now())
	node.Status = status
	_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// renewLease creates or renews the node's Lease in kube-node-lease: the
// heartbeat the node controller watches.
func renewLease(ctx context.Context, cs kubernetes.Interface, node string, duration time.Duration, now time.Time) error {
	leases := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	renew := metav1.NewMicroTime(now)
	lease, err := leases.Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(node),
				LeaseDurationSeconds: ptr.To(int32(duration / time.Second)),
				RenewTime:            &renew,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &renew
	lease.Spec.HolderIdentity = ptr.To(node)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(duration / time.Second))
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// updateNodeStatus rewrites the Node's conditions with a fresh heartbeat,
// and its images unless images is nil (they could not be listed).
func updateNodeStatus(ctx context.Context, cs kubernetes.Interface, name string, images []corev1.ContainerImage, now time.Time) error {
	node, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	node.Status.Conditions = NodeConditions(node.Status.Conditions, now)
	if images != nil {
		node.Status.Images = images
	}
	_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	return nil
}
