package kubelet

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceEnv is the environment Kubernetes gives every container for the
// Services that exist when it starts (the course notes' first discovery
// mode), docker-link style. For a Service "mysql" at 10.96.0.5, port 3306:
//
//	MYSQL_SERVICE_HOST=10.96.0.5
//	MYSQL_SERVICE_PORT=3306
//	MYSQL_PORT=tcp://10.96.0.5:3306
//	MYSQL_PORT_3306_TCP=tcp://10.96.0.5:3306
//	MYSQL_PORT_3306_TCP_PROTO=tcp
//	MYSQL_PORT_3306_TCP_PORT=3306
//	MYSQL_PORT_3306_TCP_ADDR=10.96.0.5
//
// services are those of the pod's namespace, plus the `kubernetes`
// Service of default; headless and ExternalName Services give nothing.
// A Service created after the pod is not in it: that is the ordering
// problem DNS solves.
func ServiceEnv(services []*corev1.Service, namespace string, links bool) []corev1.EnvVar {
	// One Service per name, as kubelet's getServiceEnvVarMap keeps them:
	// a Service of the pod's namespace wins over default's `kubernetes`.
	byName := map[string]*corev1.Service{}
	for _, svc := range services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		switch {
		case svc.Namespace == metav1.NamespaceDefault && svc.Name == "kubernetes":
			if _, ok := byName[svc.Name]; !ok {
				byName[svc.Name] = svc
			}
		case svc.Namespace == namespace && links:
			byName[svc.Name] = svc
		}
	}
	var out []corev1.EnvVar
	for _, name := range sortedKeys(byName) {
		svc := byName[name]
		ip := svc.Spec.ClusterIP
		prefix := envName(svc.Name)
		first := svc.Spec.Ports[0]
		out = append(out,
			corev1.EnvVar{Name: prefix + "_SERVICE_HOST", Value: ip},
			corev1.EnvVar{Name: prefix + "_SERVICE_PORT", Value: strconv.Itoa(int(first.Port))},
		)
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				out = append(out, corev1.EnvVar{Name: prefix + "_SERVICE_PORT_" + envName(p.Name), Value: strconv.Itoa(int(p.Port))})
			}
		}
		out = append(out, corev1.EnvVar{Name: prefix + "_PORT", Value: portURL(ip, first)})
		for _, p := range svc.Spec.Ports {
			proto := portProtocol(p)
			base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
			out = append(out,
				corev1.EnvVar{Name: base, Value: portURL(ip, p)},
				corev1.EnvVar{Name: base + "_PROTO", Value: proto},
				corev1.EnvVar{Name: base + "_PORT", Value: strconv.Itoa(int(p.Port))},
				corev1.EnvVar{Name: base + "_ADDR", Value: ip},
			)
		}
	}
	return out
}

// portProtocol is a Service port's protocol in lower case; unset means
// TCP, as in Kubernetes' makeLinkVariables.
func portProtocol(p corev1.ServicePort) string {
	if p.Protocol == "" {
		return "tcp"
	}
	return strings.ToLower(string(p.Protocol))
}

// portURL is "tcp://10.96.0.5:3306", or "tcp://[fd00::5]:3306" for IPv6.
func portURL(ip string, p corev1.ServicePort) string {
	return portProtocol(p) + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))
}

func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

// EnvSources is what env and envFrom may refer to.
type EnvSources struct {
	ConfigMaps map[string]*corev1.ConfigMap // by name, in the pod's namespace
	Secrets    map[string]*corev1.Secret
	PodIP      string
	HostIP     string
}

// ContainerEnv is a container's environment, in Kubernetes' order: the
// Service variables, then envFrom, then env, each later one winning; env
// values may use $(NAME) of variables defined before them.
func ContainerEnv(pod *corev1.Pod, c *corev1.Container, services []corev1.EnvVar, src EnvSources) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, e := range services {
		set(e.Name, e.Value)
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := src.ConfigMaps[from.ConfigMapRef.Name]
			if !ok {
				if optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			for _, k := range sortedKeys(cm.Data) {
				set(from.Prefix+k, cm.Data[k])
			}
		case from.SecretRef != nil:
			s, ok := src.Secrets[from.SecretRef.Name]
			if !ok {
				if optional(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			for _, k := range sortedKeys(s.Data) {
				set(from.Prefix+k, string(s.Data[k]))
			}
		}
	}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom == nil {
			v = expand(v, vars)
		} else {
			var ok bool
			var err error
			if v, ok, err = valueFrom(pod, c, e.ValueFrom, src); err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			if !ok {
				continue // an optional reference to what is missing: not set
			}
		}
		set(e.Name, v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

func optional(b *bool) bool { return b != nil && *b }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// expand replaces $(NAME) with the variable's value; $$ is a literal $,
// and an unknown $(NAME) stays as written, as in Kubernetes.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte('$')
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// valueFrom resolves a downward-API field, a resource, a ConfigMap key or
// a Secret key. ok is false when an optional ConfigMap or Secret, or its
// key, is missing: Kubernetes then leaves the variable unset (not empty),
// so a value envFrom gave it stays.
func valueFrom(pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, src EnvSources) (v string, ok bool, err error) {
	switch {
	case from.FieldRef != nil:
		v, err = fieldValue(pod, from.FieldRef.FieldPath, src)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err = resourceValue(c, from.ResourceFieldRef)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, found := src.ConfigMaps[ref.Name]
		if !found {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		v, found := cm.Data[ref.Key]
		if !found {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, true, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, found := src.Secrets[ref.Name]
		if !found {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		b, found := s.Data[ref.Key]
		if !found {
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(b), true, nil
	}
	return "", true, nil
}

// fieldValue is the downward API: a pod field by its path.
func fieldValue(pod *corev1.Pod, path string, src EnvSources) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return src.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return src.HostIP, nil
	}
	for _, p := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels", pod.Labels}, {"metadata.annotations", pod.Annotations}} {
		if key, ok := strings.CutPrefix(path, p.prefix+"['"); ok {
			return p.m[strings.TrimSuffix(key, "']")], nil
		}
		if path == p.prefix {
			var lines []string
			for _, k := range sortedKeys(p.m) {
				lines = append(lines, fmt.Sprintf("%s=%q", k, p.m[k]))
			}
			return strings.Join(lines, "\n"), nil
		}
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// resourceValue is a container's request or limit, in the divisor's
// units (rounded up), as the downward API gives it.
func resourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	var q resource.Quantity
	switch ref.Resource {
	case "limits.cpu":
		q = c.Resources.Limits[corev1.ResourceCPU]
	case "limits.memory":
		q = c.Resources.Limits[corev1.ResourceMemory]
	case "requests.cpu":
		q = c.Resources.Requests[corev1.ResourceCPU]
	case "requests.memory":
		q = c.Resources.Requests[corev1.ResourceMemory]
	default:
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if ref.Resource == "limits.cpu" || ref.Resource == "requests.cpu" {
		v := (q.MilliValue() + divisor.MilliValue() - 1) / divisor.MilliValue()
		return strconv.FormatInt(v, 10), nil
	}
	v := (q.Value() + divisor.Value() - 1) / divisor.Value()
	return strconv.FormatInt(v, 10), nil
}
