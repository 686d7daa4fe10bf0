package kubelet

// Unit tests of a container's environment: the Service variables, envFrom,
// env with $(VAR) expansion, and the downward API.
//
// Reference: kubernetes pkg/kubelet/envvars/envvars.go (FromServices),
// pkg/kubelet/kubelet_pods.go (getServiceEnvVarMap,
// makeEnvironmentVariables), third_party/forked/golang/expansion
// (Expand), pkg/fieldpath (ExtractFieldPathAsString) and
// pkg/api/v1/resource (ExtractContainerResourceValue).

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
}

func port(name string, p int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, Protocol: proto}
}

// env turns name=value pairs into EnvVars.
func env(kv ...string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for i := 0; i < len(kv); i += 2 {
		out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// The `kubernetes` Service of default, in every pod.
var kubernetesSvc = svc("default", "kubernetes", "10.96.0.1", port("https", 443, corev1.ProtocolTCP))

var kubernetesEnv = env(
	"KUBERNETES_SERVICE_HOST", "10.96.0.1",
	"KUBERNETES_SERVICE_PORT", "443",
	"KUBERNETES_SERVICE_PORT_HTTPS", "443",
	"KUBERNETES_PORT", "tcp://10.96.0.1:443",
	"KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443",
	"KUBERNETES_PORT_443_TCP_PROTO", "tcp",
	"KUBERNETES_PORT_443_TCP_PORT", "443",
	"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1",
)

func TestServiceEnv(t *testing.T) {
	mysqlEnv := env(
		"MYSQL_SERVICE_HOST", "10.96.0.5",
		"MYSQL_SERVICE_PORT", "3306",
		"MYSQL_PORT", "tcp://10.96.0.5:3306",
		"MYSQL_PORT_3306_TCP", "tcp://10.96.0.5:3306",
		"MYSQL_PORT_3306_TCP_PROTO", "tcp",
		"MYSQL_PORT_3306_TCP_PORT", "3306",
		"MYSQL_PORT_3306_TCP_ADDR", "10.96.0.5",
	)
	tests := []struct {
		name     string
		services []*corev1.Service
		ns       string
		links    bool
		want     []corev1.EnvVar
	}{
		{
			name:     "one unnamed TCP port: the doc comment's example",
			services: []*corev1.Service{svc("shop", "mysql", "10.96.0.5", port("", 3306, corev1.ProtocolTCP))},
			ns:       "shop", links: true,
			want: mysqlEnv,
		},
		{
			name: "named ports: _SERVICE_PORT_<NAME> each, _PORT is the first",
			services: []*corev1.Service{svc("shop", "web", "10.96.0.7",
				port("http", 80, corev1.ProtocolTCP), port("metrics", 9090, corev1.ProtocolTCP))},
			ns: "shop", links: true,
			want: env(
				"WEB_SERVICE_HOST", "10.96.0.7",
				"WEB_SERVICE_PORT", "80",
				"WEB_SERVICE_PORT_HTTP", "80",
				"WEB_SERVICE_PORT_METRICS", "9090",
				"WEB_PORT", "tcp://10.96.0.7:80",
				"WEB_PORT_80_TCP", "tcp://10.96.0.7:80",
				"WEB_PORT_80_TCP_PROTO", "tcp",
				"WEB_PORT_80_TCP_PORT", "80",
				"WEB_PORT_80_TCP_ADDR", "10.96.0.7",
				"WEB_PORT_9090_TCP", "tcp://10.96.0.7:9090",
				"WEB_PORT_9090_TCP_PROTO", "tcp",
				"WEB_PORT_9090_TCP_PORT", "9090",
				"WEB_PORT_9090_TCP_ADDR", "10.96.0.7",
			),
		},
		{
			name: "UDP, and dashes in names become underscores",
			services: []*corev1.Service{svc("kube-system", "kube-dns", "10.96.0.10",
				port("dns", 53, corev1.ProtocolUDP), port("dns-tcp", 53, corev1.ProtocolTCP))},
			ns: "kube-system", links: true,
			want: env(
				"KUBE_DNS_SERVICE_HOST", "10.96.0.10",
				"KUBE_DNS_SERVICE_PORT", "53",
				"KUBE_DNS_SERVICE_PORT_DNS", "53",
				"KUBE_DNS_SERVICE_PORT_DNS_TCP", "53",
				"KUBE_DNS_PORT", "udp://10.96.0.10:53",
				"KUBE_DNS_PORT_53_UDP", "udp://10.96.0.10:53",
				"KUBE_DNS_PORT_53_UDP_PROTO", "udp",
				"KUBE_DNS_PORT_53_UDP_PORT", "53",
				"KUBE_DNS_PORT_53_UDP_ADDR", "10.96.0.10",
				"KUBE_DNS_PORT_53_TCP", "tcp://10.96.0.10:53",
				"KUBE_DNS_PORT_53_TCP_PROTO", "tcp",
				"KUBE_DNS_PORT_53_TCP_PORT", "53",
				"KUBE_DNS_PORT_53_TCP_ADDR", "10.96.0.10",
			),
		},
		{
			// makeLinkVariables: an unset protocol is TCP.
			name:     "no protocol given: tcp",
			services: []*corev1.Service{svc("shop", "mysql", "10.96.0.5", port("", 3306, ""))},
			ns:       "shop", links: true,
			want: mysqlEnv,
		},
		{
			// makeLinkVariables uses net.JoinHostPort.
			name:     "IPv6 ClusterIP: the address is bracketed in URLs",
			services: []*corev1.Service{svc("shop", "db", "fd00::5", port("", 5432, corev1.ProtocolTCP))},
			ns:       "shop", links: true,
			want: env(
				"DB_SERVICE_HOST", "fd00::5",
				"DB_SERVICE_PORT", "5432",
				"DB_PORT", "tcp://[fd00::5]:5432",
				"DB_PORT_5432_TCP", "tcp://[fd00::5]:5432",
				"DB_PORT_5432_TCP_PROTO", "tcp",
				"DB_PORT_5432_TCP_PORT", "5432",
				"DB_PORT_5432_TCP_ADDR", "fd00::5",
			),
		},
		{
			name: "headless, ExternalName and portless Services give nothing",
			services: []*corev1.Service{
				svc("shop", "headless", "None", port("", 80, corev1.ProtocolTCP)),
				func() *corev1.Service {
					s := svc("shop", "external", "", port("", 80, corev1.ProtocolTCP))
					s.Spec.Type, s.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.com"
					return s
				}(),
				svc("shop", "noports", "10.96.0.9"),
			},
			ns: "shop", links: true,
		},
		{
			name: "other namespaces are skipped, default's kubernetes is kept; sorted by name",
			services: []*corev1.Service{
				svc("shop", "mysql", "10.96.0.5", port("", 3306, corev1.ProtocolTCP)),
				svc("other", "redis", "10.96.0.6", port("", 6379, corev1.ProtocolTCP)),
				svc("default", "web", "10.96.0.8", port("", 80, corev1.ProtocolTCP)),
				kubernetesSvc,
			},
			ns: "shop", links: true,
			want: append(append([]corev1.EnvVar(nil), kubernetesEnv...), mysqlEnv...),
		},
		{
			name: "enableServiceLinks false: only kubernetes",
			services: []*corev1.Service{
				svc("shop", "mysql", "10.96.0.5", port("", 3306, corev1.ProtocolTCP)),
				kubernetesSvc,
			},
			ns: "shop", links: false,
			want: kubernetesEnv,
		},
		{
			name: "enableServiceLinks false in default: only kubernetes",
			services: []*corev1.Service{
				kubernetesSvc,
				svc("default", "web", "10.96.0.8", port("", 80, corev1.ProtocolTCP)),
			},
			ns: "default", links: false,
			want: kubernetesEnv,
		},
		{
			// getServiceEnvVarMap keeps one Service per name; the pod's
			// own namespace wins over default's master service.
			name: "a kubernetes Service in the pod's namespace replaces default's",
			services: []*corev1.Service{
				kubernetesSvc,
				svc("shop", "kubernetes", "10.96.0.99", port("", 80, corev1.ProtocolTCP)),
			},
			ns: "shop", links: true,
			want: env(
				"KUBERNETES_SERVICE_HOST", "10.96.0.99",
				"KUBERNETES_SERVICE_PORT", "80",
				"KUBERNETES_PORT", "tcp://10.96.0.99:80",
				"KUBERNETES_PORT_80_TCP", "tcp://10.96.0.99:80",
				"KUBERNETES_PORT_80_TCP_PROTO", "tcp",
				"KUBERNETES_PORT_80_TCP_PORT", "80",
				"KUBERNETES_PORT_80_TCP_ADDR", "10.96.0.99",
			),
		},
		{
			name: "...but not when service links are off",
			services: []*corev1.Service{
				svc("shop", "kubernetes", "10.96.0.99", port("", 80, corev1.ProtocolTCP)),
				kubernetesSvc,
			},
			ns: "shop", links: false,
			want: kubernetesEnv,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ServiceEnv(tt.services, tt.ns, tt.links)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ServiceEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func envPod() *corev1.Pod {
	pod := newPod("app")
	pod.Namespace = "shop"
	pod.Labels = map[string]string{"app": "web", "tier": "front"}
	pod.Annotations = map[string]string{"example.com/owner": "team-a"}
	pod.Spec.ServiceAccountName = "builder"
	return pod
}

var envSources = EnvSources{
	ConfigMaps: map[string]*corev1.ConfigMap{
		"cfg": {ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"mode": "fast", "LEVEL": "3", "raw": "$(MODE)"}},
	},
	Secrets: map[string]*corev1.Secret{
		"creds": {ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"user": []byte("admin"), "PASSWORD": []byte("s3cret")}},
	},
	PodIP:  "10.244.1.5",
	HostIP: "10.0.0.1",
}

func cmKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
}

func secretKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}
}

func field(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
}

func resourceRef(res, divisor string) *corev1.EnvVarSource {
	ref := &corev1.ResourceFieldSelector{Resource: res}
	if divisor != "" {
		ref.Divisor = resource.MustParse(divisor)
	}
	return &corev1.EnvVarSource{ResourceFieldRef: ref}
}

func TestContainerEnv(t *testing.T) {
	services := env("MYSQL_SERVICE_HOST", "10.96.0.5", "MYSQL_SERVICE_PORT", "3306")
	yes := true
	tests := []struct {
		name     string
		services []corev1.EnvVar
		envFrom  []corev1.EnvFromSource
		env      []corev1.EnvVar
		want     []string
		wantErr  string
	}{
		{
			name:     "services only",
			services: services,
			want:     []string{"MYSQL_SERVICE_HOST=10.96.0.5", "MYSQL_SERVICE_PORT=3306"},
		},
		{
			name: "nothing at all",
		},
		{
			name:    "envFrom a ConfigMap: its keys in sorted order",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			want:    []string{"LEVEL=3", "mode=fast", "raw=$(MODE)"},
		},
		{
			name:    "envFrom with a prefix, ConfigMap then Secret",
			envFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}, {Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}},
			want:    []string{"CFG_LEVEL=3", "CFG_mode=fast", "CFG_raw=$(MODE)", "DB_PASSWORD=s3cret", "DB_user=admin"},
		},
		{
			// Precedence: Service variables < envFrom < env. A variable
			// keeps the place where it was first defined.
			name:     "env wins over envFrom, which wins over the Service variables",
			services: services,
			envFrom:  []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			env:      env("MYSQL_SERVICE_PORT", "3307", "LEVEL", "9", "NEW", "x"),
			want:     []string{"MYSQL_SERVICE_HOST=10.96.0.5", "MYSQL_SERVICE_PORT=3307", "LEVEL=9", "mode=fast", "raw=$(MODE)", "NEW=x"},
		},
		{
			name:     "$(VAR) expands Service variables, envFrom and earlier env",
			services: services,
			envFrom:  []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			env:      env("ADDR", "$(MYSQL_SERVICE_HOST):$(MYSQL_SERVICE_PORT)", "URL", "mysql://$(ADDR)/?mode=$(mode)"),
			want:     []string{"MYSQL_SERVICE_HOST=10.96.0.5", "MYSQL_SERVICE_PORT=3306", "LEVEL=3", "mode=fast", "raw=$(MODE)", "ADDR=10.96.0.5:3306", "URL=mysql://10.96.0.5:3306/?mode=fast"},
		},
		{
			name: "a later variable is not known yet: left as written",
			env:  env("A", "$(B)", "B", "b"),
			want: []string{"A=$(B)", "B=b"},
		},
		{
			name: "$$ escapes, unknown and incomplete references stay",
			env:  env("X", "x", "ESC", "$$(X)", "DOLLARS", "a$$b", "UNKNOWN", "$(NOPE)", "OPEN", "$(X", "BARE", "$X", "END", "x$", "EMPTY", "$()"),
			want: []string{"X=x", "ESC=$(X)", "DOLLARS=a$b", "UNKNOWN=$(NOPE)", "OPEN=$(X", "BARE=$X", "END=x$", "EMPTY=$()"},
		},
		{
			name: "values from ConfigMap and Secret keys are not expanded",
			env: []corev1.EnvVar{
				{Name: "MODE", Value: "slow"},
				{Name: "RAW", ValueFrom: cmKey("cfg", "raw", false)},
				{Name: "USER", ValueFrom: secretKey("creds", "user", false)},
			},
			want: []string{"MODE=slow", "RAW=$(MODE)", "USER=admin"},
		},
		{
			name:    "envFrom a missing ConfigMap",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}},
			wantErr: `configmap "nope" not found`,
		},
		{
			name:    "envFrom a missing Secret",
			envFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}},
			wantErr: `secret "nope" not found`,
		},
		{
			name: "envFrom missing but optional: skipped",
			envFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: &yes}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: &yes}},
			},
			env:  env("A", "a"),
			want: []string{"A=a"},
		},
		{
			name:    "configMapKeyRef: missing key",
			env:     []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("cfg", "nope", false)}},
			wantErr: "env V: couldn't find key nope in ConfigMap shop/cfg",
		},
		{
			name:    "configMapKeyRef: missing ConfigMap",
			env:     []corev1.EnvVar{{Name: "V", ValueFrom: cmKey("nope", "k", false)}},
			wantErr: `env V: configmap "nope" not found`,
		},
		{
			name:    "secretKeyRef: missing key",
			env:     []corev1.EnvVar{{Name: "V", ValueFrom: secretKey("creds", "nope", false)}},
			wantErr: "env V: couldn't find key nope in Secret shop/creds",
		},
		{
			name:    "secretKeyRef: missing Secret",
			env:     []corev1.EnvVar{{Name: "V", ValueFrom: secretKey("nope", "k", false)}},
			wantErr: `env V: secret "nope" not found`,
		},
		{
			// makeEnvironmentVariables "continue"s past an optional
			// reference that is missing: the variable is not set at all.
			name: "optional key refs that are missing leave the variable unset",
			env: []corev1.EnvVar{
				{Name: "A", ValueFrom: cmKey("cfg", "nope", true)},
				{Name: "B", ValueFrom: cmKey("nope", "k", true)},
				{Name: "C", ValueFrom: secretKey("creds", "nope", true)},
				{Name: "D", ValueFrom: secretKey("nope", "k", true)},
				{Name: "E", Value: "e"},
			},
			want: []string{"E=e"},
		},
		{
			name:    "...and keep the value envFrom gave it",
			envFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			env:     []corev1.EnvVar{{Name: "mode", ValueFrom: cmKey("cfg", "nope", true)}},
			want:    []string{"LEVEL=3", "mode=fast", "raw=$(MODE)"},
		},
		{
			name: "fieldRef: the downward API",
			env: []corev1.EnvVar{
				{Name: "NAME", ValueFrom: field("metadata.name")},
				{Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")},
				{Name: "NODE", ValueFrom: field("spec.nodeName")},
				{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
				{Name: "POD_IP", ValueFrom: field("status.podIP")},
				{Name: "POD_IPS", ValueFrom: field("status.podIPs")},
				{Name: "HOST_IP", ValueFrom: field("status.hostIP")},
				{Name: "APP", ValueFrom: field("metadata.labels['app']")},
				{Name: "MISSING", ValueFrom: field("metadata.labels['nope']")},
				{Name: "OWNER", ValueFrom: field("metadata.annotations['example.com/owner']")},
				{Name: "LABELS", ValueFrom: field("metadata.labels")},
				{Name: "URL", Value: "http://$(POD_IP):8080/$(NAME)"},
			},
			want: []string{
				"NAME=p", "NS=shop", "UID=" + testUID, "NODE=node1", "SA=builder",
				"POD_IP=10.244.1.5", "POD_IPS=10.244.1.5", "HOST_IP=10.0.0.1",
				"APP=web", "MISSING=", "OWNER=team-a", "LABELS=app=\"web\"\ntier=\"front\"",
				"URL=http://10.244.1.5:8080/p",
			},
		},
		{
			name:    "fieldRef: unsupported path",
			env:     []corev1.EnvVar{{Name: "X", ValueFrom: field("spec.containers")}},
			wantErr: `env X: unsupported fieldPath "spec.containers"`,
		},
		{
			name: "resourceFieldRef: in the divisor's units, rounded up",
			env: []corev1.EnvVar{
				{Name: "CPU", ValueFrom: resourceRef("limits.cpu", "1")},
				{Name: "CPU_DEFAULT_DIVISOR", ValueFrom: resourceRef("limits.cpu", "")},
				{Name: "CPU_MILLI", ValueFrom: resourceRef("requests.cpu", "1m")},
				{Name: "MEM_MI", ValueFrom: resourceRef("limits.memory", "1Mi")},
				{Name: "MEM_BYTES", ValueFrom: resourceRef("limits.memory", "")},
				{Name: "REQ_MEM_MI", ValueFrom: resourceRef("requests.memory", "1Mi")},
			},
			want: []string{"CPU=1", "CPU_DEFAULT_DIVISOR=1", "CPU_MILLI=100", "MEM_MI=64", "MEM_BYTES=67108864", "REQ_MEM_MI=96"},
		},
		{
			name:    "resourceFieldRef: unsupported resource",
			env:     []corev1.EnvVar{{Name: "X", ValueFrom: resourceRef("limits.gpu", "")}},
			wantErr: `env X: unsupported resource "limits.gpu"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := envPod()
			c := &pod.Spec.Containers[0]
			c.EnvFrom, c.Env = tt.envFrom, tt.env
			c.Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("100M")},
			}
			got, err := ContainerEnv(pod, c, tt.services, envSources)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ContainerEnv error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ContainerEnv: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ContainerEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": ""}
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "a"},
		{"$(A)$(B)", "ab"},
		{"x$(A)y", "xay"},
		{"$(EMPTY)", ""},
		{"$(C)", "$(C)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$$", "$"},
		{"$", "$"},
		{"$A", "$A"},
		{"$(A", "$(A"},
		{"$(A$(B))", "$(A$(B))"}, // the name is "A$(B": unknown, kept as written
		{"100$", "100$"},
	}
	for _, tt := range tests {
		if got := expand(tt.in, vars); got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFieldValue(t *testing.T) {
	pod := envPod()
	src := EnvSources{PodIP: "10.244.1.5", HostIP: "10.0.0.1"}
	tests := []struct {
		path    string
		want    string
		wantErr bool
	}{
		{path: "metadata.name", want: "p"},
		{path: "metadata.namespace", want: "shop"},
		{path: "metadata.uid", want: testUID},
		{path: "metadata.labels['tier']", want: "front"},
		{path: "metadata.annotations['example.com/owner']", want: "team-a"},
		{path: "metadata.annotations", want: `example.com/owner="team-a"`},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "status.hostIPs", want: "10.0.0.1"},
		{path: "metadata.generateName", wantErr: true},
		{path: "spec.hostname", wantErr: true},
	}
	for _, tt := range tests {
		got, err := fieldValue(pod, tt.path, src)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("fieldValue(%q) = %q, %v; want %q (error %v)", tt.path, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestResourceValue(t *testing.T) {
	c := &corev1.Container{Name: "app", Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}
	tests := []struct {
		resource, divisor, want string
	}{
		{"requests.cpu", "1", "1"}, // 0.25 core rounds up to 1
		{"requests.cpu", "", "1"},
		{"requests.cpu", "1m", "250"},
		{"requests.cpu", "100m", "3"}, // 2.5 rounds up
		{"limits.cpu", "1", "2"},
		{"limits.cpu", "1m", "1500"},
		{"requests.memory", "1Mi", "64"},
		{"requests.memory", "1", "67108864"},
		{"limits.memory", "1Gi", "1"},
		{"limits.memory", "1Mi", "1024"},
		{"limits.memory", "1M", "1074"}, // 1073.74 rounds up
		{"limits.memory", "1k", "1073742"},
	}
	for _, tt := range tests {
		ref := &corev1.ResourceFieldSelector{Resource: tt.resource}
		if tt.divisor != "" {
			ref.Divisor = resource.MustParse(tt.divisor)
		}
		got, err := resourceValue(c, ref)
		if err != nil || got != tt.want {
			t.Errorf("resourceValue(%s, divisor %q) = %q, %v; want %q", tt.resource, tt.divisor, got, err, tt.want)
		}
	}

	// Assumption: with no limit set the value is 0. Kubernetes substitutes
	// the node's allocatable (defaultPodLimitsForDownwardAPI); the pure core
	// is not given it.
	got, err := resourceValue(&corev1.Container{}, &corev1.ResourceFieldSelector{Resource: "limits.memory"})
	if err != nil || got != "0" {
		t.Errorf("resourceValue of an unset limit = %q, %v; want \"0\"", got, err)
	}
}
