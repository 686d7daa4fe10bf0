package printers_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// meta is the metadata of an object created age ago.
func meta(name string, age time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(age)}
}

// cellTest is one row of a table-driven cells test.
type cellTest struct {
	name string
	obj  runtime.Object
	want []interface{}
}

// runCellTests checks every test's cells, wide ones included.
func runCellTests(t *testing.T, tests []cellTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, cells(t, tt.obj)); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
		})
	}
}

// node is a node created 3 days ago with the given labels, conditions and
// unschedulable flag.
func node(name string, labels map[string]string, unschedulable bool, conds ...corev1.NodeCondition) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, CreationTimestamp: ago(72 * time.Hour)},
		Spec:       corev1.NodeSpec{Unschedulable: unschedulable},
		Status: corev1.NodeStatus{
			Conditions: conds,
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 12 (bookworm)",
				KernelVersion: "6.1.0-18-amd64", ContainerRuntimeVersion: "containerd://2.1.0",
			},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: "192.168.56.10"}},
		},
	}
	return n
}

var (
	ready    = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	notReady = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse}
	pressure = corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}
)

// Reference: upstream printNode; `kubectl get nodes -o wide`.
func TestNodeCells(t *testing.T) {
	wide := []interface{}{"192.168.56.10", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "containerd://2.1.0"}
	narrow := func(name, status, roles string) []interface{} {
		return append([]interface{}{name, status, roles, "3d", "v1.37.2"}, wide...)
	}
	bare := node("bare", nil, false)
	bare.Status.NodeInfo = corev1.NodeSystemInfo{}
	bare.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: "203.0.113.7"}}

	runCellTests(t, []cellTest{
		{"ready control plane", node("cp", map[string]string{"node-role.kubernetes.io/control-plane": ""}, false, pressure, ready),
			narrow("cp", "Ready", "control-plane")},
		{"not ready worker without roles", node("w1", map[string]string{"kubernetes.io/hostname": "w1"}, false, notReady),
			narrow("w1", "NotReady", "<none>")},
		{"cordoned", node("w2", nil, true, ready),
			narrow("w2", "Ready,SchedulingDisabled", "<none>")},
		{"no Ready condition yet", node("w3", nil, false, pressure),
			narrow("w3", "Unknown", "<none>")},
		{"roles from both labels, sorted, once each", node("w4", map[string]string{
			"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/ingress": "true", "kubernetes.io/role": "worker",
			"node-role.kubernetes.io/": "",
		}, false, ready),
			narrow("w4", "Ready", "ingress,worker")},
		{"nothing reported", bare,
			[]interface{}{"bare", "Unknown", "<none>", "3d", "", "<none>", "203.0.113.7", "<unknown>", "<unknown>", "<unknown>"}},
	})
}

// service is a service created 10m ago selecting app=name.
func service(name string, typ corev1.ServiceType, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: meta(name, 10*time.Minute),
		Spec: corev1.ServiceSpec{
			Type: typ, ClusterIP: clusterIP, ClusterIPs: []string{clusterIP}, Ports: ports,
			Selector: map[string]string{"app": name},
		},
	}
}

// Reference: upstream printService; `kubectl get svc -o wide`.
func TestServiceCells(t *testing.T) {
	tcp := func(port, nodePort int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, NodePort: nodePort, Protocol: corev1.ProtocolTCP}
	}
	lbWith := func(ingress ...corev1.LoadBalancerIngress) *corev1.Service {
		s := service("lb", corev1.ServiceTypeLoadBalancer, "10.96.0.30", tcp(443, 31443))
		s.Status.LoadBalancer.Ingress = ingress
		return s
	}
	withExternalIPs := service("ext", corev1.ServiceTypeClusterIP, "10.96.0.40", tcp(80, 0))
	withExternalIPs.Spec.ExternalIPs = []string{"198.51.100.1", "198.51.100.2"}
	lbAndExternalIPs := lbWith(corev1.LoadBalancerIngress{IP: "203.0.113.10"})
	lbAndExternalIPs.Spec.ExternalIPs = []string{"198.51.100.1"}
	externalName := &corev1.Service{
		ObjectMeta: meta("db", 10*time.Minute),
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
	}
	noSelector := service("manual", corev1.ServiceTypeClusterIP, "10.96.0.50")
	noSelector.Spec.Selector = nil

	runCellTests(t, []cellTest{
		{"cluster IP", service("mysql", corev1.ServiceTypeClusterIP, "10.96.0.20", tcp(3306, 0)),
			[]interface{}{"mysql", "ClusterIP", "10.96.0.20", "<none>", "3306/TCP", "10m", "app=mysql"}},
		{"node port", service("web", corev1.ServiceTypeNodePort, "10.96.0.21", tcp(80, 30080), corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP}),
			[]interface{}{"web", "NodePort", "10.96.0.21", "<none>", "80:30080/TCP,53/UDP", "10m", "app=web"}},
		{"headless", service("pods", corev1.ServiceTypeClusterIP, "None", tcp(80, 0)),
			[]interface{}{"pods", "ClusterIP", "None", "<none>", "80/TCP", "10m", "app=pods"}},
		{"load balancer pending", lbWith(),
			[]interface{}{"lb", "LoadBalancer", "10.96.0.30", "<pending>", "443:31443/TCP", "10m", "app=lb"}},
		{"load balancer with addresses, sorted", lbWith(corev1.LoadBalancerIngress{Hostname: "lb.example.com"}, corev1.LoadBalancerIngress{IP: "203.0.113.10"}),
			[]interface{}{"lb", "LoadBalancer", "10.96.0.30", "203.0.113.10,lb.example.com", "443:31443/TCP", "10m", "app=lb"}},
		{"load balancer and external IPs", lbAndExternalIPs,
			[]interface{}{"lb", "LoadBalancer", "10.96.0.30", "203.0.113.10,198.51.100.1", "443:31443/TCP", "10m", "app=lb"}},
		{"external IPs", withExternalIPs,
			[]interface{}{"ext", "ClusterIP", "10.96.0.40", "198.51.100.1,198.51.100.2", "80/TCP", "10m", "app=ext"}},
		{"external name", externalName,
			[]interface{}{"db", "ExternalName", "<none>", "db.example.com", "<none>", "10m", "<none>"}},
		{"no ports, no selector", noSelector,
			[]interface{}{"manual", "ClusterIP", "10.96.0.50", "<none>", "<none>", "10m", "<none>"}},
	})
}

// podTemplate is a pod template with one container per name, image name:1.
func podTemplate(labels map[string]string, names ...string) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}
	for _, n := range names {
		t.Spec.Containers = append(t.Spec.Containers, corev1.Container{Name: n, Image: n + ":1"})
	}
	return t
}

func TestReplicationControllerCells(t *testing.T) {
	three := int32(3)
	tmpl := podTemplate(map[string]string{"app": "web"}, "web", "log")
	runCellTests(t, []cellTest{
		{"scaling up", &corev1.ReplicationController{
			ObjectMeta: meta("web", 2*time.Hour),
			Spec:       corev1.ReplicationControllerSpec{Replicas: &three, Selector: map[string]string{"app": "web"}, Template: &tmpl},
			Status:     corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1},
		}, []interface{}{"web", int64(3), int64(2), int64(1), "120m", "web,log", "web:1,log:1", "app=web"}},
		{"no template, replicas defaulted", &corev1.ReplicationController{ObjectMeta: meta("bare", 30*time.Second)},
			[]interface{}{"bare", int64(1), int64(0), int64(0), "30s", "", "", "<none>"}},
	})
}

func TestSmallCoreKinds(t *testing.T) {
	runCellTests(t, []cellTest{
		{"namespace", &corev1.Namespace{ObjectMeta: meta("team-a", 50*24*time.Hour), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			[]interface{}{"team-a", "Active", "50d"}},
		{"terminating namespace", &corev1.Namespace{ObjectMeta: meta("old", 400*24*time.Hour), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			[]interface{}{"old", "Terminating", "400d"}},
		{"config map", &corev1.ConfigMap{ObjectMeta: meta("cfg", 3*time.Minute), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {1}}},
			[]interface{}{"cfg", int64(3), "3m"}},
		{"secret", &corev1.Secret{ObjectMeta: meta("tls", 90*time.Second), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}, StringData: map[string]string{"tls.key": "x", "ca.crt": "y"}},
			[]interface{}{"tls", "kubernetes.io/tls", int64(3), "90s"}},
		{"service account", &corev1.ServiceAccount{ObjectMeta: meta("default", 8*time.Hour)},
			[]interface{}{"default", int64(0), "8h"}},
		{"endpoints", &corev1.Endpoints{ObjectMeta: meta("web", 7*time.Minute), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.1.4"}, {IP: "10.244.2.4"}},
			Ports:     []corev1.EndpointPort{{Port: 80}, {Port: 443}},
		}}}, []interface{}{"web", "10.244.1.4:80,10.244.2.4:80,10.244.1.4:443 + 1 more...", "7m"}},
		{"headless endpoints without ports, IPv6", &corev1.Endpoints{ObjectMeta: meta("db", 7*time.Minute), Subsets: []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{{IP: "10.244.1.9"}}},
			{Addresses: []corev1.EndpointAddress{{IP: "fd00::9"}}, Ports: []corev1.EndpointPort{{Port: 5432}}},
		}}, []interface{}{"db", "10.244.1.9,[fd00::9]:5432", "7m"}},
		{"no endpoints", &corev1.Endpoints{ObjectMeta: meta("none", 7*time.Minute)},
			[]interface{}{"none", "<none>", "7m"}},
		{"resource quota", &corev1.ResourceQuota{ObjectMeta: meta("quota", 4*time.Minute), Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("4Gi"), "limits.cpu": resource.MustParse("4")},
			Used: corev1.ResourceList{"pods": resource.MustParse("2"), "requests.cpu": resource.MustParse("500m"), "limits.cpu": resource.MustParse("1")},
		}}, []interface{}{"quota", "4m", "pods: 2/10, requests.cpu: 500m/2", "limits.cpu: 1/4, limits.memory: 0/4Gi"}},
	})
}

// Reference: upstream printEvent; `kubectl get events`.
func TestEventCells(t *testing.T) {
	involved := corev1.ObjectReference{Kind: "Pod", Name: "web-1", Namespace: "default", FieldPath: "spec.containers{web}"}
	series := &corev1.Event{
		ObjectMeta: meta("web-1.17a", 10*time.Minute), InvolvedObject: involved,
		Type: corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container\n",
		EventTime:           metav1.NewMicroTime(now.Add(-10 * time.Minute)),
		Series:              &corev1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(now.Add(-20 * time.Second))},
		ReportingController: "kubelet", ReportingInstance: "node-1",
	}
	runCellTests(t, []cellTest{
		{"core event, old style", &corev1.Event{
			ObjectMeta: meta("web-1.17b", time.Hour), InvolvedObject: involved,
			Type: corev1.EventTypeNormal, Reason: "Pulled", Message: "Successfully pulled image",
			Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
			FirstTimestamp: ago(time.Hour), LastTimestamp: ago(3 * time.Minute), Count: 4,
		}, []interface{}{"3m", "Normal", "Pulled", "pod/web-1", "spec.containers{web}", "kubelet, node-1", "Successfully pulled image", "60m", int64(4), "web-1.17b"}},
		{"core event with a series", series,
			[]interface{}{"20s", "Warning", "BackOff", "pod/web-1", "spec.containers{web}", "kubelet, node-1", "Back-off restarting failed container", "10m", int64(7), "web-1.17a"}},
		{"singleton of the new API", &corev1.Event{
			ObjectMeta: meta("ns.17c", 5*time.Second), InvolvedObject: corev1.ObjectReference{Kind: "Namespace"},
			Type: corev1.EventTypeNormal, Reason: "Created", EventTime: metav1.NewMicroTime(now.Add(-5 * time.Second)),
			ReportingController: "tinykube-controller-manager",
		}, []interface{}{"5s", "Normal", "Created", "namespace", "", "tinykube-controller-manager", "", "5s", int64(1), "ns.17c"}},
		{"no times at all", &corev1.Event{ObjectMeta: meta("bare", time.Second)},
			[]interface{}{"<unknown>", "", "", "", "", "", "", "<unknown>", int64(1), "bare"}},
		{"events.k8s.io event", &eventsv1.Event{
			ObjectMeta: meta("web-1.17d", 10*time.Minute), Regarding: involved,
			Type: corev1.EventTypeWarning, Reason: "BackOff", Note: "Back-off restarting failed container",
			EventTime:           metav1.NewMicroTime(now.Add(-10 * time.Minute)),
			Series:              &eventsv1.EventSeries{Count: 7, LastObservedTime: metav1.NewMicroTime(now.Add(-20 * time.Second))},
			ReportingController: "kubelet", ReportingInstance: "node-1",
		}, []interface{}{"20s", "Warning", "BackOff", "pod/web-1", "spec.containers{web}", "kubelet, node-1", "Back-off restarting failed container", "10m", int64(7), "web-1.17d"}},
		{"events.k8s.io event, deprecated fields", &eventsv1.Event{
			ObjectMeta: meta("old", time.Hour), Regarding: involved, Note: "n",
			DeprecatedSource:         corev1.EventSource{Component: "scheduler"},
			DeprecatedFirstTimestamp: ago(time.Hour), DeprecatedLastTimestamp: ago(time.Minute), DeprecatedCount: 2,
		}, []interface{}{"60s", "", "", "pod/web-1", "spec.containers{web}", "scheduler", "n", "60m", int64(2), "old"}},
	})
}
