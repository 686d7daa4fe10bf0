package kubelet

// Unit tests of the small pure helpers: CommandLine, Tail, NormalizeImage,
// NodeObject and NodeConditions.

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCommandLine(t *testing.T) {
	// Reference: Kubernetes docs, "Define a Command and Arguments for a
	// Container" (command replaces ENTRYPOINT, args replace CMD) and
	// kubecontainer.ExpandContainerCommandAndArgs.
	vars := map[string]string{"GREETING": "hello", "NAME": "world"}
	tests := []struct {
		name         string
		command      []string
		args         []string
		wantArgs     []string
		wantUseImage bool
	}{
		{
			name:         "neither: the image's entrypoint and cmd",
			wantUseImage: true,
		},
		{
			name:     "command and args: command then args, the image's entrypoint dropped",
			command:  []string{"/bin/sh", "-c"},
			args:     []string{"echo hi"},
			wantArgs: []string{"/bin/sh", "-c", "echo hi"},
		},
		{
			name:     "command only",
			command:  []string{"sleep", "3600"},
			wantArgs: []string{"sleep", "3600"},
		},
		{
			name:         "args only: the image's entrypoint runs them",
			args:         []string{"--port", "8080"},
			wantArgs:     []string{"--port", "8080"},
			wantUseImage: true,
		},
		{
			name:     "$(VAR) expanded in command and args; $$ escapes; unknown stays",
			command:  []string{"echo", "$(GREETING)"},
			args:     []string{"$(NAME)!", "$$(NAME)", "$(NOPE)"},
			wantArgs: []string{"echo", "hello", "world!", "$(NAME)", "$(NOPE)"},
		},
		{
			name:         "args only, expanded",
			args:         []string{"--greeting=$(GREETING)"},
			wantArgs:     []string{"--greeting=hello"},
			wantUseImage: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &corev1.Container{Name: "c", Command: tt.command, Args: tt.args}
			args, useImage := CommandLine(c, vars)
			if diff := cmp.Diff(tt.wantArgs, args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if useImage != tt.wantUseImage {
				t.Errorf("useImage = %v, want %v", useImage, tt.wantUseImage)
			}
		})
	}
}

func TestTail(t *testing.T) {
	// Reference: `kubectl logs --tail`: -1 is everything, 0 nothing; a
	// last line without its newline is a line.
	tests := []struct {
		name string
		data string
		n    int
		want string
	}{
		{"n=0: nothing", "a\nb\nc\n", 0, ""},
		{"n=-1: everything", "a\nb\nc\n", -1, "a\nb\nc\n"},
		{"the last two", "a\nb\nc\n", 2, "b\nc\n"},
		{"the last one", "a\nb\nc\n", 1, "c\n"},
		{"more than there are", "a\nb\n", 10, "a\nb\n"},
		{"exactly as many", "a\nb\n", 2, "a\nb\n"},
		{"no trailing newline: the partial line counts", "a\nb\nc", 2, "b\nc"},
		{"no trailing newline, one line", "a\nb\nc", 1, "c"},
		{"empty lines are lines", "a\n\n\n", 2, "\n\n"},
		{"empty log", "", 3, ""},
		{"a single line without newline", "only", 1, "only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Tail([]byte(tt.data), tt.n)); got != tt.want {
				t.Errorf("Tail(%q, %d) = %q, want %q", tt.data, tt.n, got, tt.want)
			}
		})
	}
}

func TestNormalizeImage(t *testing.T) {
	// Reference: the Docker reference rules containerd and the CRI use
	// (docker.io is the default registry, library/ the default
	// repository for one-word names, latest the default tag).
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		image   string
		want    string
		wantErr bool
	}{
		{image: "busybox", want: "docker.io/library/busybox:latest"},
		{image: "busybox:1.36", want: "docker.io/library/busybox:1.36"},
		{image: "library/busybox", want: "docker.io/library/busybox:latest"},
		{image: "docker.io/library/busybox:latest", want: "docker.io/library/busybox:latest"},
		{image: "tinykube/demo:1.0", want: "docker.io/tinykube/demo:1.0"},
		{image: "registry.k8s.io/pause:3.10", want: "registry.k8s.io/pause:3.10"},
		{image: "localhost:5000/app", want: "localhost:5000/app:latest"},
		{image: "busybox@" + digest, want: "docker.io/library/busybox@" + digest},
		{image: "Busybox", wantErr: true},
		{image: "", wantErr: true},
		{image: "busybox:", wantErr: true},
		{image: "bad image", wantErr: true},
	}
	for _, tt := range tests {
		got, err := NormalizeImage(tt.image)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeImage(%q) = %q, %v; want %q (error %v)", tt.image, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "invalid image name") {
			t.Errorf("NormalizeImage(%q) error %q does not say the name is invalid", tt.image, err)
		}
	}
}

var quantityEq = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

func TestNodeObject(t *testing.T) {
	facts := NodeFacts{
		Name: "node1", Address: "10.0.0.11", PodCIDR: "10.244.1.0/24",
		CPUs: 4, MemoryBytes: 8 << 30, Kernel: "6.8.0", OSImage: "Ubuntu 24.04 LTS",
		Runtime: "containerd://1.7.35", MachineID: "m-1", BootID: "b-1",
	}
	now := t0
	nowT := metav1.NewTime(now)
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("20Gi"),
	}
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: message, LastHeartbeatTime: nowT, LastTransitionTime: nowT}
	}
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: map[string]string{
			"kubernetes.io/hostname":  "node1",
			"kubernetes.io/os":        "linux",
			"kubernetes.io/arch":      runtime.GOARCH,
			"beta.kubernetes.io/os":   "linux",
			"beta.kubernetes.io/arch": runtime.GOARCH,
		}},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "10.0.0.11"},
				{Type: corev1.NodeHostName, Address: "node1"},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: "m-1", SystemUUID: "m-1", BootID: "b-1", KernelVersion: "6.8.0", OSImage: "Ubuntu 24.04 LTS",
				ContainerRuntimeVersion: "containerd://1.7.35", KubeletVersion: KubeletVersion,
				OperatingSystem: "linux", Architecture: runtime.GOARCH,
			},
		},
	}
	got := NodeObject(facts, now)
	if diff := cmp.Diff(want, got, quantityEq); diff != "" {
		t.Errorf("NodeObject (-want +got):\n%s", diff)
	}
	// Allocatable is a copy: changing it leaves capacity alone.
	got.Status.Allocatable[corev1.ResourcePods] = resource.MustParse("1")
	if q := got.Status.Capacity[corev1.ResourcePods]; q.Value() != 110 {
		t.Errorf("capacity shares its map with allocatable: pods = %s", q.String())
	}
}

func TestNodeConditions(t *testing.T) {
	then := metav1.NewTime(t0)
	later := t0.Add(time.Minute)
	laterT := metav1.NewTime(later)
	tests := []struct {
		name            string
		old             []corev1.NodeCondition
		wantTransitions map[corev1.NodeConditionType]metav1.Time
	}{
		{
			name: "first report: every transition is now",
			wantTransitions: map[corev1.NodeConditionType]metav1.Time{
				corev1.NodeMemoryPressure: laterT, corev1.NodeDiskPressure: laterT, corev1.NodePIDPressure: laterT, corev1.NodeReady: laterT,
			},
		},
		{
			name: "unchanged status keeps its transition time; a node that was NotReady becomes Ready now",
			old: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastTransitionTime: then},
				{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, LastTransitionTime: then},
			},
			wantTransitions: map[corev1.NodeConditionType]metav1.Time{
				corev1.NodeMemoryPressure: then, corev1.NodeDiskPressure: laterT, corev1.NodePIDPressure: laterT, corev1.NodeReady: laterT,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[corev1.NodeConditionType]metav1.Time{}
			for _, c := range NodeConditions(tt.old, later) {
				got[c.Type] = c.LastTransitionTime
				if !c.LastHeartbeatTime.Equal(&laterT) {
					t.Errorf("%s: lastHeartbeatTime = %v, want now (%v)", c.Type, c.LastHeartbeatTime, laterT)
				}
			}
			if diff := cmp.Diff(tt.wantTransitions, got); diff != "" {
				t.Errorf("lastTransitionTime by type (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeImages(t *testing.T) {
	got := NodeImages([]imageRef{
		{Name: "docker.io/tinykube/demo:1.0", Digest: "sha256:d1", Size: 5 << 20},
		{Name: "registry.k8s.io/pause:3.10", Digest: "sha256:p", Size: 1 << 20},
		{Name: "docker.io/tinykube/demo:latest", Digest: "sha256:d1", Size: 5 << 20},
		{Name: "localhost:5000/x:1", Digest: "sha256:x", Size: 2 << 20},
	})
	want := []corev1.ContainerImage{
		{Names: []string{"docker.io/tinykube/demo@sha256:d1", "docker.io/tinykube/demo:1.0", "docker.io/tinykube/demo:latest"}, SizeBytes: 5 << 20},
		{Names: []string{"localhost:5000/x@sha256:x", "localhost:5000/x:1"}, SizeBytes: 2 << 20},
		{Names: []string{"registry.k8s.io/pause@sha256:p", "registry.k8s.io/pause:3.10"}, SizeBytes: 1 << 20},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NodeImages (-want +got):\n%s", diff)
	}
}
