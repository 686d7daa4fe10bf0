package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// HostsFile is a pod's /etc/hosts, as the kubelet writes it: localhost,
// the pod's own name at its IP, then the pod's hostAliases.
func HostsFile(pod *corev1.Pod, podIP string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if podIP != "" {
		name := hostname(pod)
		if pod.Spec.Subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.cluster.local\t%s\n", podIP, name, pod.Spec.Subdomain, pod.Namespace, name)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", podIP, name)
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.String()
}

// hostname is the pod's host name: spec.hostname, or its name.
func hostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

// ResolvConf is a pod's /etc/resolv.conf by its dnsPolicy:
//
//   - ClusterFirst (the default): the cluster DNS, searching the pod's
//     namespace, then svc, then the cluster domain, ndots:5 — so
//     "mysql" finds mysql.<ns>.svc.cluster.local;
//   - Default: the node's own resolv.conf (nodeResolv);
//   - None: only what dnsConfig says;
//   - ClusterFirstWithHostNet: ClusterFirst (tinykube runs no host-network
//     pods differently).
//
// dnsConfig's nameservers, searches and options are added in every case.
func ResolvConf(pod *corev1.Pod, clusterDNS, domain, nodeResolv string) string {
	var servers, search []string
	var opts []string
	switch pod.Spec.DNSPolicy {
	case corev1.DNSDefault:
		for _, line := range strings.Split(nodeResolv, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "nameserver":
				servers = append(servers, f[1])
			case "search":
				search = append(search, f[1:]...)
			case "options":
				opts = append(opts, f[1:]...)
			}
		}
	case corev1.DNSNone:
	default:
		servers = []string{clusterDNS}
		search = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
		opts = []string{"ndots:5"}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		servers = append(servers, c.Nameservers...)
		search = append(search, c.Searches...)
		for _, o := range c.Options {
			if o.Value != nil {
				opts = append(opts, o.Name+":"+*o.Value)
			} else {
				opts = append(opts, o.Name)
			}
		}
	}
	var b strings.Builder
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.String()
}

// writePodFiles writes the pod's etc files into its directory.
func writePodFiles(dir string, pod *corev1.Pod, podIP, clusterDNS, domain string) error {
	etc := filepath.Join(dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	nodeResolv, _ := os.ReadFile("/etc/resolv.conf")
	for name, content := range map[string]string{
		"hosts":       HostsFile(pod, podIP),
		"resolv.conf": ResolvConf(pod, clusterDNS, domain, string(nodeResolv)),
		"hostname":    hostname(pod) + "\n",
	} {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// bind is a read-write (or read-only) bind mount into a container.
func bind(source, dest string, readOnly bool) specs.Mount {
	opts := []string{"rbind", "rprivate"}
	if readOnly {
		opts = append(opts, "ro")
	} else {
		opts = append(opts, "rw")
	}
	return specs.Mount{Type: "bind", Source: source, Destination: dest, Options: opts}
}

// containerMounts are a container's mounts: the pod's etc files, its
// termination-message file, and its volume mounts (from volumeDirs, the
// host directory of each pod volume by name).
func containerMounts(podDir string, c *corev1.Container, volumeDirs map[string]string) ([]specs.Mount, error) {
	etc := filepath.Join(podDir, "etc")
	mounts := []specs.Mount{
		bind(filepath.Join(etc, "hosts"), "/etc/hosts", false),
		bind(filepath.Join(etc, "resolv.conf"), "/etc/resolv.conf", false),
		bind(filepath.Join(etc, "hostname"), "/etc/hostname", false),
	}
	if path := c.TerminationMessagePath; path != "" {
		file := filepath.Join(podDir, "termination", c.Name)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(file, nil, 0o666); err != nil {
			return nil, err
		}
		mounts = append(mounts, bind(file, path, false))
	}
	for _, vm := range c.VolumeMounts {
		src, ok := volumeDirs[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q is mounted but not defined in the pod", vm.Name)
		}
		if vm.SubPath != "" {
			src = filepath.Join(src, vm.SubPath)
		}
		mounts = append(mounts, bind(src, vm.MountPath, vm.ReadOnly))
	}
	return mounts, nil
}
