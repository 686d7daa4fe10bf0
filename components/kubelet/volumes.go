package kubelet

import (
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// VolumeData is what the pod's volumes read from the API.
type VolumeData struct {
	ConfigMaps map[string]*corev1.ConfigMap
	Secrets    map[string]*corev1.Secret
	// Tokens are the service-account tokens of projected volumes, by
	// TokenKey: the kubelet asks the apiserver for them (TokenRequest).
	Tokens map[string]string
}

// TokenKey names the token of a projected volume's serviceAccountToken
// source.
func TokenKey(volume, path string) string { return volume + "/" + path }

// File is one file a volume holds: a path relative to the volume's root.
type File struct {
	Path    string
	Content []byte
	Mode    os.FileMode
}

// VolumeFiles lists the files of a configMap, secret, downwardAPI or
// projected volume. It does no I/O; the kubelet writes them.
func VolumeFiles(pod *corev1.Pod, v *corev1.Volume, data VolumeData) ([]File, error) {
	switch {
	case v.ConfigMap != nil:
		return configMapFiles(v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional, data)
	case v.Secret != nil:
		return secretFiles(v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional, data)
	case v.DownwardAPI != nil:
		return downwardFiles(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		var out []File
		for _, s := range v.Projected.Sources {
			var files []File
			var err error
			switch {
			case s.ConfigMap != nil:
				files, err = configMapFiles(s.ConfigMap.Name, s.ConfigMap.Items, v.Projected.DefaultMode, s.ConfigMap.Optional, data)
			case s.Secret != nil:
				files, err = secretFiles(s.Secret.Name, s.Secret.Items, v.Projected.DefaultMode, s.Secret.Optional, data)
			case s.DownwardAPI != nil:
				files, err = downwardFiles(pod, s.DownwardAPI.Items, v.Projected.DefaultMode)
			case s.ServiceAccountToken != nil:
				token, ok := data.Tokens[TokenKey(v.Name, s.ServiceAccountToken.Path)]
				if !ok {
					err = fmt.Errorf("no service account token for %s", s.ServiceAccountToken.Path)
					break
				}
				// The token is the pod's credential: only its owner reads it.
				files = []File{{Path: s.ServiceAccountToken.Path, Content: []byte(token), Mode: mode(v.Projected.DefaultMode, 0o600)}}
			}
			if err != nil {
				return nil, err
			}
			out = append(out, files...)
		}
		return out, nil
	}
	return nil, nil
}

func mode(m *int32, def os.FileMode) os.FileMode {
	if m != nil {
		return os.FileMode(*m)
	}
	return def
}

// keyFiles are the files of a ConfigMap's or Secret's values: every key,
// or the items asked for. An item whose key is missing is an error, unless
// the volume is optional: then it is skipped (MakePayload in Kubernetes'
// configmap and secret volume plugins, whose messages these are).
func keyFiles(kind string, values map[string][]byte, items []corev1.KeyToPath, defMode *int32, opt *bool) ([]File, error) {
	if len(items) == 0 {
		var out []File
		for _, k := range sortedKeys(values) {
			out = append(out, File{Path: k, Content: values[k], Mode: mode(defMode, 0o644)})
		}
		return out, nil
	}
	var out []File
	for _, it := range items {
		v, ok := values[it.Key]
		if !ok {
			if optional(opt) {
				continue
			}
			if kind == "secret" {
				return nil, fmt.Errorf("references non-existent secret key: %s", it.Key)
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		out = append(out, File{Path: it.Path, Content: v, Mode: mode(it.Mode, mode(defMode, 0o644))})
	}
	return out, nil
}

func configMapFiles(name string, items []corev1.KeyToPath, defMode *int32, opt *bool, data VolumeData) ([]File, error) {
	cm, ok := data.ConfigMaps[name]
	if !ok {
		if optional(opt) {
			return nil, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	values := map[string][]byte{}
	for k, v := range cm.Data {
		values[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		values[k] = v
	}
	return keyFiles("configmap", values, items, defMode, opt)
}

func secretFiles(name string, items []corev1.KeyToPath, defMode *int32, opt *bool, data VolumeData) ([]File, error) {
	s, ok := data.Secrets[name]
	if !ok {
		if optional(opt) {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	return keyFiles("secret", s.Data, items, defMode, opt)
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode *int32) ([]File, error) {
	var out []File
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(pod, it.FieldRef.FieldPath, EnvSources{PodIP: pod.Status.PodIP, HostIP: pod.Status.HostIP})
		case it.ResourceFieldRef != nil:
			c := containerNamed(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("downwardAPI %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
			}
			v, err = resourceValue(c, it.ResourceFieldRef)
		}
		if err != nil {
			return nil, fmt.Errorf("downwardAPI %s: %w", it.Path, err)
		}
		out = append(out, File{Path: it.Path, Content: []byte(v), Mode: mode(it.Mode, mode(defMode, 0o644))})
	}
	return out, nil
}

// containerNamed finds a container of the pod by name: an app container,
// or an init container (findContainerInPod in Kubernetes).
func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// prepareVolumes makes each volume's directory on the node and returns
// them by name: emptyDir under the pod's directory, hostPath as given, the
// others filled with their files.
func prepareVolumes(podDir string, pod *corev1.Pod, data VolumeData) (map[string]string, error) {
	dirs := map[string]string{}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.HostPath != nil {
			path := v.HostPath.Path
			if t := v.HostPath.Type; t != nil && (*t == corev1.HostPathDirectoryOrCreate) {
				if err := os.MkdirAll(path, 0o755); err != nil {
					return nil, fmt.Errorf("volume %s: %w", v.Name, err)
				}
			}
			dirs[v.Name] = path
			continue
		}
		dir := filepath.Join(podDir, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return nil, err
		}
		dirs[v.Name] = dir
		if v.EmptyDir != nil {
			continue
		}
		files, err := VolumeFiles(pod, v, data)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		for _, f := range files {
			p := filepath.Join(dir, filepath.Clean("/"+f.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, f.Content, f.Mode); err != nil {
				return nil, err
			}
		}
	}
	return dirs, nil
}
