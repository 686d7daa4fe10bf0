package admission

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// decode reads a manifest into a new object of obj's type, strictly (an
// unknown field is an error, as with `kubectl apply --validate=strict`).
func decode[T runtime.Object](t *testing.T, manifest string) T {
	t.Helper()
	var zero T
	obj := reflect.New(reflect.TypeOf(zero).Elem()).Interface().(T)
	if err := yaml.UnmarshalStrict([]byte(manifest), obj); err != nil {
		t.Fatalf("decode: %v\n%s", err, manifest)
	}
	return obj
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// defaultsCase: Default turns in into want.
type defaultsCase struct {
	name     string
	in, want string
	decode   func(*testing.T, string) runtime.Object
}

func asObject[T runtime.Object](t *testing.T, s string) runtime.Object { return decode[T](t, s) }

// Reference: pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go,
// pkg/apis/batch/v1/defaults.go. The course notes' manifests must come out
// as a real cluster stores them (`kubectl get -o yaml`).
func TestDefault(t *testing.T) {
	cases := []defaultsCase{{
		name:   "course notes mysql-rc.yaml: replicas, template defaults, Always for an untagged image, TCP",
		in:     readTestdata(t, "mysql-rc.yaml"),
		decode: asObject[*corev1.ReplicationController],
		want: `
apiVersion: v1
kind: ReplicationController
metadata:
  name: mysql
  labels: {app: mysql}
spec:
  replicas: 1
  selector: {app: mysql}
  template:
    metadata:
      labels: {app: mysql}
    spec:
      containers:
      - name: mysql
        image: mysql
        imagePullPolicy: Always
        ports:
        - containerPort: 3306
          protocol: TCP
        env:
        - name: MYSQL_ROOT_PASSWORD
          value: "123456"
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`,
	}, {
		name:   "course notes mysql-rc.yaml without selector and replicas: both from the template",
		in:     "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: mysql}\nspec:\n  template:\n    metadata: {labels: {app: mysql}}\n    spec: {containers: [{name: mysql, image: 'mysql:8.4'}]}\n",
		decode: asObject[*corev1.ReplicationController],
		want: `
metadata: {name: mysql, labels: {app: mysql}}
spec:
  replicas: 1
  selector: {app: mysql}
  template:
    metadata: {labels: {app: mysql}}
    spec:
      containers:
      - {name: mysql, image: 'mysql:8.4', imagePullPolicy: IfNotPresent, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`,
	}, {
		name:   "course notes mysql-svc.yaml: ClusterIP, targetPort = port, TCP, sessionAffinity None",
		in:     readTestdata(t, "mysql-svc.yaml"),
		decode: asObject[*corev1.Service],
		want: `
apiVersion: v1
kind: Service
metadata: {name: mysql}
spec:
  type: ClusterIP
  ports:
  - port: 3306
    protocol: TCP
    targetPort: 3306
  selector: {app: mysql}
  sessionAffinity: None
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
`,
	}, {
		name:   "pod: Pod-only defaults, probe defaults, admission's priority and tolerations",
		decode: asObject[*corev1.Pod],
		in: `
metadata: {name: web}
spec:
  containers:
  - name: web
    image: registry.local:5000/web:1.2
    resources: {limits: {cpu: 500m}}
    livenessProbe: {httpGet: {port: 8080}}
    env: [{name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
  volumes:
  - name: scratch
  - name: conf
    configMap: {name: conf}
`,
		want: `
metadata: {name: web}
spec:
  containers:
  - name: web
    image: registry.local:5000/web:1.2
    imagePullPolicy: IfNotPresent
    resources: {limits: {cpu: 500m}, requests: {cpu: 500m}}
    livenessProbe:
      httpGet: {port: 8080, path: /, scheme: HTTP}
      timeoutSeconds: 1
      periodSeconds: 10
      successThreshold: 1
      failureThreshold: 3
    env: [{name: NODE, valueFrom: {fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}}}]
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  volumes:
  - name: scratch
    emptyDir: {}
  - name: conf
    configMap: {name: conf, defaultMode: 420}
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
  priority: 0
  preemptionPolicy: PreemptLowerPriority
  tolerations:
  - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
`,
	}, {
		name:   "pod on the host network: hostPort = containerPort; a toleration of everything adds none",
		decode: asObject[*corev1.Pod],
		in: `
metadata: {name: agent}
spec:
  hostNetwork: true
  tolerations: [{operator: Exists}]
  serviceAccount: agent
  containers: [{name: agent, image: 'agent:latest', ports: [{containerPort: 9100}]}]
`,
		want: `
metadata: {name: agent}
spec:
  hostNetwork: true
  tolerations: [{operator: Exists}]
  serviceAccount: agent
  serviceAccountName: agent
  containers:
  - name: agent
    image: 'agent:latest'
    imagePullPolicy: Always
    ports: [{containerPort: 9100, hostPort: 9100, protocol: TCP}]
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  terminationGracePeriodSeconds: 30
  priority: 0
  preemptionPolicy: PreemptLowerPriority
`,
	}, {
		name:   "deployment: RollingUpdate 25%/25%, history 10, deadline 600s, template defaults",
		decode: asObject[*appsv1.Deployment],
		in: `
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: 'nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}]}
`,
		want: `
metadata: {name: web}
spec:
  replicas: 1
  revisionHistoryLimit: 10
  progressDeadlineSeconds: 600
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: 'nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
        imagePullPolicy: IfNotPresent
        terminationMessagePath: /dev/termination-log
        terminationMessagePolicy: File
      dnsPolicy: ClusterFirst
      restartPolicy: Always
      schedulerName: default-scheduler
      securityContext: {}
      terminationGracePeriodSeconds: 30
`,
	}, {
		name:   "replicaset: 1 replica",
		decode: asObject[*appsv1.ReplicaSet],
		in:     `{metadata: {name: web}, spec: {template: {spec: {restartPolicy: Always, dnsPolicy: Default, schedulerName: other, securityContext: {}, terminationGracePeriodSeconds: 5}}}}`,
		want:   `{metadata: {name: web}, spec: {replicas: 1, template: {spec: {restartPolicy: Always, dnsPolicy: Default, schedulerName: other, securityContext: {}, terminationGracePeriodSeconds: 5}}}}`,
	}, {
		name:   "daemonset: RollingUpdate maxUnavailable 1 maxSurge 0, history 10",
		decode: asObject[*appsv1.DaemonSet],
		in:     `{metadata: {name: agent}, spec: {template: {spec: {restartPolicy: Always, dnsPolicy: Default, schedulerName: other, securityContext: {}, terminationGracePeriodSeconds: 5}}}}`,
		want: `
metadata: {name: agent}
spec:
  revisionHistoryLimit: 10
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, maxSurge: 0}}
  template: {spec: {restartPolicy: Always, dnsPolicy: Default, schedulerName: other, securityContext: {}, terminationGracePeriodSeconds: 5}}
`,
	}, {
		name:   "statefulset: OrderedReady, RollingUpdate partition 0, Retain/Retain, claim templates",
		decode: asObject[*appsv1.StatefulSet],
		in: `
metadata: {name: db}
spec:
  serviceName: db
  template: {spec: {restartPolicy: Always, dnsPolicy: Default, schedulerName: other, securityContext: {}, terminationGracePeriodSeconds: 5}}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`,
		want: `
metadata: {name: db}
spec:
  serviceName: db
  replicas: 1
  revisionHistoryLimit: 10
  podManagementPolicy: OrderedReady
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 0}}
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Retain}
  template: {spec: {restartPolicy: Always, dnsPolicy: Default, schedulerName: other, securityContext: {}, terminationGracePeriodSeconds: 5}}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}, volumeMode: Filesystem}
    status: {phase: Pending}
`,
	}, {
		name:   "job: 1 completion, parallelism 1, backoffLimit 6, NonIndexed, not suspended, labels from template",
		decode: asObject[*batchv1.Job],
		in:     `{metadata: {name: pi}, spec: {template: {metadata: {labels: {app: pi}}, spec: {restartPolicy: Never, dnsPolicy: Default, schedulerName: other, securityContext: {}, terminationGracePeriodSeconds: 5}}}}`,
		want: `
metadata: {name: pi, labels: {app: pi}}
spec:
  completions: 1
  parallelism: 1
  backoffLimit: 6
  completionMode: NonIndexed
  suspend: false
  manualSelector: false
  podReplacementPolicy: TerminatingOrFailed
  template: {metadata: {labels: {app: pi}}, spec: {restartPolicy: Never, dnsPolicy: Default, schedulerName: other, securityContext: {}, terminationGracePeriodSeconds: 5}}
`,
	}, {
		name:   "cronjob: Allow, not suspended, history 3/1; the job template gets only pod defaults",
		decode: asObject[*batchv1.CronJob],
		in:     `{metadata: {name: tick}, spec: {schedule: '*/5 * * * *', jobTemplate: {spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: c, image: busybox}]}}}}}}`,
		want: `
metadata: {name: tick}
spec:
  schedule: '*/5 * * * *'
  concurrencyPolicy: Allow
  suspend: false
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox, imagePullPolicy: Always, terminationMessagePath: /dev/termination-log, terminationMessagePolicy: File}]
          dnsPolicy: ClusterFirst
          schedulerName: default-scheduler
          securityContext: {}
          terminationGracePeriodSeconds: 30
`,
	}, {
		name:   "namespace: labelled with its name, Active",
		decode: asObject[*corev1.Namespace],
		in:     `{metadata: {name: dev}}`,
		want:   `{metadata: {name: dev, labels: {kubernetes.io/metadata.name: dev}}, status: {phase: Active}}`,
	}, {
		name:   "secret: Opaque",
		decode: asObject[*corev1.Secret],
		in:     `{metadata: {name: s}}`,
		want:   `{metadata: {name: s}, type: Opaque}`,
	}, {
		name:   "node: allocatable = capacity, podCIDRs from podCIDR",
		decode: asObject[*corev1.Node],
		in:     `{metadata: {name: n1}, spec: {podCIDR: 10.244.1.0/24}, status: {capacity: {cpu: "2", pods: "110"}}}`,
		want:   `{metadata: {name: n1}, spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}, status: {capacity: {cpu: "2", pods: "110"}, allocatable: {cpu: "2", pods: "110"}}}`,
	}, {
		name:   "endpoints: ports TCP",
		decode: asObject[*corev1.Endpoints],
		in:     `{metadata: {name: e}, subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 80}]}]}`,
		want:   `{metadata: {name: e}, subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{port: 80, protocol: TCP}]}]}`,
	}, {
		name:   "service: NodePort gets externalTrafficPolicy Cluster; clusterIPs from clusterIP",
		decode: asObject[*corev1.Service],
		in:     `{metadata: {name: web}, spec: {type: NodePort, clusterIP: 10.96.0.20, ports: [{port: 80, targetPort: http}], selector: {app: web}}}`,
		want: `
metadata: {name: web}
spec:
  type: NodePort
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20]
  ports: [{port: 80, targetPort: http, protocol: TCP}]
  selector: {app: web}
  sessionAffinity: None
  externalTrafficPolicy: Cluster
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
`,
	}, {
		name:   "service: headless without selector requires dual stack",
		decode: asObject[*corev1.Service],
		in:     `{metadata: {name: ext}, spec: {clusterIP: None, ports: [{port: 5432}]}}`,
		want: `
metadata: {name: ext}
spec:
  type: ClusterIP
  clusterIP: None
  clusterIPs: [None]
  ports: [{port: 5432, targetPort: 5432, protocol: TCP}]
  sessionAffinity: None
  internalTrafficPolicy: Cluster
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
`,
	}, {
		name:   "service: ExternalName has no IP fields; ClientIP affinity gets 3h",
		decode: asObject[*corev1.Service],
		in:     `{metadata: {name: db}, spec: {type: ExternalName, externalName: db.example.com, sessionAffinity: ClientIP}}`,
		want:   `{metadata: {name: db}, spec: {type: ExternalName, externalName: db.example.com, sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}}}`,
	}, {
		name:   "endpointslice: port name \"\" and TCP",
		decode: asObject[*discoveryv1.EndpointSlice],
		in:     `{metadata: {name: es}, addressType: IPv4, endpoints: [{addresses: [10.0.0.1]}], ports: [{port: 80}]}`,
		want:   `{metadata: {name: es}, addressType: IPv4, endpoints: [{addresses: [10.0.0.1]}], ports: [{port: 80, name: "", protocol: TCP}]}`,
	}, {
		name:   "hpa: minReplicas 1, 80% CPU",
		decode: asObject[*autoscalingv2.HorizontalPodAutoscaler],
		in:     `{metadata: {name: web}, spec: {scaleTargetRef: {kind: Deployment, name: web}, maxReplicas: 5}}`,
		want: `
metadata: {name: web}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]
`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.decode(t, c.in)
			want := c.decode(t, c.want)
			// apiVersion and kind are not defaults: compare without them.
			got.GetObjectKind().SetGroupVersionKind(want.GetObjectKind().GroupVersionKind())
			Default(got)
			if !apiequality.Semantic.DeepEqual(got, want) {
				g, _ := yaml.Marshal(got)
				w, _ := yaml.Marshal(want)
				t.Errorf("Default gave\n%s\nwant\n%s", g, w)
			}
			// Defaulting twice changes nothing.
			again := got.DeepCopyObject()
			Default(again)
			if !apiequality.Semantic.DeepEqual(got, again) {
				t.Errorf("Default is not idempotent")
			}
		})
	}
}

// Reference: Kubernetes docs, "Images", "Default image pull policy".
func TestImageTag(t *testing.T) {
	cases := map[string]string{
		"mysql":                           "latest",
		"mysql:latest":                    "latest",
		"mysql:8.4":                       "8.4",
		"library/mysql":                   "latest",
		"localhost:5000/mysql":            "latest",
		"localhost:5000/team/mysql:8":     "8",
		"registry.example.com/app:v1.2":   "v1.2",
		"[::1]:5000/app:v1":               "v1",
		"app:v1@sha256:" + hex64:          "v1",
		"app@sha256:" + hex64:             "",
		"MySQL":                           "", // not a valid reference
		"":                                "",
		"app:bad tag":                     "",
		"Registry.Example.com/app:latest": "latest",
	}
	for image, want := range cases {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestDefaultUnknownKindIsUntouched(t *testing.T) {
	obj := &corev1.PodTemplate{}
	Default(obj)
	if !apiequality.Semantic.DeepEqual(obj, &corev1.PodTemplate{}) {
		t.Errorf("Default changed a kind it does not serve: %+v", obj)
	}
}
