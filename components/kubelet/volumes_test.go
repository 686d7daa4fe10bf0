package kubelet

// Unit tests of VolumeFiles: the files of configMap, secret, downwardAPI
// and projected volumes.
//
// Reference: kubernetes pkg/volume/configmap (MakePayload),
// pkg/volume/secret (MakePayload), pkg/volume/downwardapi
// (CollectData) and pkg/volume/projected (collectData); Kubernetes docs
// "Volumes" and "Projected Volumes". Modes default to 0644
// (ConfigMapVolumeSourceDefaultMode and friends).

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func volumePod() *corev1.Pod {
	pod := newPod("app")
	pod.Labels = map[string]string{"app": "web", "tier": "front"}
	pod.Annotations = map[string]string{"build": "42"}
	pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("500m")}
	pod.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
	}}}
	return pod
}

var volumeData = VolumeData{
	ConfigMaps: map[string]*corev1.ConfigMap{
		"cfg": {
			ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
			Data:       map[string]string{"app.conf": "port=8080\n", "level": "debug"},
			BinaryData: map[string][]byte{"logo.png": {0x89, 'P', 'N', 'G'}},
		},
	},
	Secrets: map[string]*corev1.Secret{
		"creds": {ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"username": []byte("admin"), "password": []byte("s3cret")}},
	},
}

func perm(m int32) *int32 { return &m }

func TestVolumeFiles(t *testing.T) {
	yes := true
	mode0644 := int32(0o644)
	cm := func(name string, items []corev1.KeyToPath, defMode *int32, optional *bool) corev1.VolumeSource {
		return corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Items: items, DefaultMode: defMode, Optional: optional,
		}}
	}
	secret := func(name string, items []corev1.KeyToPath, defMode *int32, optional *bool) corev1.VolumeSource {
		return corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name, Items: items, DefaultMode: defMode, Optional: optional}}
	}
	tests := []struct {
		name    string
		source  corev1.VolumeSource
		want    []File
		wantErr string
	}{
		{
			name:   "configMap: every key, data and binaryData, sorted, 0644",
			source: cm("cfg", nil, nil, nil),
			want: []File{
				{Path: "app.conf", Content: []byte("port=8080\n"), Mode: 0o644},
				{Path: "level", Content: []byte("debug"), Mode: 0o644},
				{Path: "logo.png", Content: []byte{0x89, 'P', 'N', 'G'}, Mode: 0o644},
			},
		},
		{
			name:   "configMap: defaultMode",
			source: cm("cfg", nil, perm(0o400), nil),
			want: []File{
				{Path: "app.conf", Content: []byte("port=8080\n"), Mode: 0o400},
				{Path: "level", Content: []byte("debug"), Mode: 0o400},
				{Path: "logo.png", Content: []byte{0x89, 'P', 'N', 'G'}, Mode: 0o400},
			},
		},
		{
			name: "configMap: items pick keys, in their order, to their paths; an item's mode wins",
			source: cm("cfg", []corev1.KeyToPath{
				{Key: "level", Path: "conf/level.txt", Mode: perm(0o600)},
				{Key: "logo.png", Path: "img/logo.png"},
			}, perm(0o440), nil),
			want: []File{
				{Path: "conf/level.txt", Content: []byte("debug"), Mode: 0o600},
				{Path: "img/logo.png", Content: []byte{0x89, 'P', 'N', 'G'}, Mode: 0o440},
			},
		},
		{
			name:    "configMap: an item names a missing key",
			source:  cm("cfg", []corev1.KeyToPath{{Key: "nope", Path: "nope"}}, nil, nil),
			wantErr: "configmap references non-existent config key: nope",
		},
		{
			// MakePayload: with optional set, a missing key is skipped.
			name:   "configMap, optional: an item with a missing key is skipped",
			source: cm("cfg", []corev1.KeyToPath{{Key: "nope", Path: "nope"}, {Key: "level", Path: "level"}}, nil, &yes),
			want:   []File{{Path: "level", Content: []byte("debug"), Mode: 0o644}},
		},
		{
			name:    "configMap: missing",
			source:  cm("nope", nil, nil, nil),
			wantErr: `configmap "nope" not found`,
		},
		{
			name:   "configMap, optional: missing gives an empty volume",
			source: cm("nope", nil, nil, &yes),
		},
		{
			name:   "secret: every key, sorted, with defaultMode",
			source: secret("creds", nil, perm(0o400), nil),
			want: []File{
				{Path: "password", Content: []byte("s3cret"), Mode: 0o400},
				{Path: "username", Content: []byte("admin"), Mode: 0o400},
			},
		},
		{
			name:   "secret: items",
			source: secret("creds", []corev1.KeyToPath{{Key: "password", Path: "db/pass"}}, nil, nil),
			want:   []File{{Path: "db/pass", Content: []byte("s3cret"), Mode: 0o644}},
		},
		{
			name:    "secret: an item names a missing key",
			source:  secret("creds", []corev1.KeyToPath{{Key: "token", Path: "token"}}, nil, nil),
			wantErr: "references non-existent secret key: token",
		},
		{
			name:   "secret, optional: an item with a missing key is skipped",
			source: secret("creds", []corev1.KeyToPath{{Key: "token", Path: "token"}}, nil, &yes),
		},
		{
			name:    "secret: missing",
			source:  secret("nope", nil, nil, nil),
			wantErr: `secret "nope" not found`,
		},
		{
			name:   "secret, optional: missing gives an empty volume",
			source: secret("nope", nil, nil, &yes),
		},
		{
			name: "downwardAPI: fields and resources",
			source: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				DefaultMode: perm(0o444),
				Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
					{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: perm(0o400)},
					{Path: "app", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}},
					{Path: "mem_limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
					{Path: "cpu_limit", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
				},
			}},
			want: []File{
				{Path: "labels", Content: []byte("app=\"web\"\ntier=\"front\""), Mode: 0o444},
				{Path: "annotations", Content: []byte(`build="42"`), Mode: 0o444},
				{Path: "name", Content: []byte("p"), Mode: 0o400},
				{Path: "app", Content: []byte("web"), Mode: 0o444},
				{Path: "mem_limit", Content: []byte("64"), Mode: 0o444},
				{Path: "cpu_limit", Content: []byte("500"), Mode: 0o444},
			},
		},
		{
			// findContainerInPod looks at the app containers, then the
			// init containers.
			name: "downwardAPI: an init container's resources",
			source: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "setup_mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "setup", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
			}}},
			want: []File{{Path: "setup_mem", Content: []byte("32"), Mode: 0o644}},
		},
		{
			name: "downwardAPI: no such container",
			source: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "x", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.memory"}},
			}}},
			wantErr: `downwardAPI x: no container "nope"`,
		},
		{
			name: "downwardAPI: unsupported field",
			source: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "x", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.volumes"}},
			}}},
			wantErr: `downwardAPI x: unsupported fieldPath "spec.volumes"`,
		},
		{
			name: "projected: sources combined in order, with the projected defaultMode",
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: perm(0o440),
				Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "app.conf", Path: "app.conf"}}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Items: []corev1.KeyToPath{{Key: "password", Path: "secret/password", Mode: perm(0o400)}}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: &yes}},
				},
			}},
			want: []File{
				{Path: "app.conf", Content: []byte("port=8080\n"), Mode: 0o440},
				{Path: "secret/password", Content: []byte("s3cret"), Mode: 0o400},
				{Path: "labels", Content: []byte("app=\"web\"\ntier=\"front\""), Mode: 0o440},
			},
		},
		{
			name: "projected: a missing source that is not optional",
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}},
			}}},
			wantErr: `secret "nope" not found`,
		},
		{
			name: "projected: a serviceAccountToken the kubelet has not fetched",
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "missing"}},
			}}},
			wantErr: "no service account token for missing",
		},
		{
			name: "projected: the kube-api-access volume (token 0600, CA, namespace)",
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: &mode0644, Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}},
			want: []File{{Path: "token", Content: []byte("jwt"), Mode: 0o644}, {Path: "namespace", Content: []byte(volumePod().Namespace), Mode: 0o644}},
		},
		{
			name:   "emptyDir has no files",
			source: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &corev1.Volume{Name: "v", VolumeSource: tt.source}
			data := volumeData
			data.Tokens = map[string]string{TokenKey("v", "token"): "jwt"}
			got, err := VolumeFiles(volumePod(), v, data)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("VolumeFiles error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("VolumeFiles: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("VolumeFiles (-want +got):\n%s", diff)
			}
		})
	}
}

// prepareVolumes writes what VolumeFiles lists; a path cannot climb out of
// the volume.
func TestPrepareVolumes(t *testing.T) {
	podDir := t.TempDir()
	pod := volumePod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items:                []corev1.KeyToPath{{Key: "level", Path: "../../escape", Mode: perm(0o600)}},
		}}},
	}
	dirs, err := prepareVolumes(podDir, pod, volumeData)
	if err != nil {
		t.Fatalf("prepareVolumes: %v", err)
	}
	want := map[string]string{"scratch": podDir + "/volumes/scratch", "cfg": podDir + "/volumes/cfg"}
	if diff := cmp.Diff(want, dirs); diff != "" {
		t.Errorf("volume directories (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(podDir + "/volumes/cfg/escape")
	if err != nil {
		t.Fatalf("the item was not written inside its volume: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}
