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
// the pod's own name at its IP (with its FQDN in the cluster domain when it
// has a subdomain), then the pod's hostAliases.
func HostsFile(pod *corev1.Pod, podIP, domain string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if podIP != "" {
		name := hostname(pod)
		if pod.Spec.Subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", podIP, name, pod.Spec.Subdomain, pod.Namespace, domain, name)
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

// hostname is the pod's host name: spec.hostname, or its name. A pod's
// name may be longer than a host name can be (63 characters): Kubernetes
// cuts it there, and drops a '-' or '.' left at its end
// (truncatePodHostnameIfNeeded).
func hostname(pod *corev1.Pod) string {
	name := pod.Name
	if pod.Spec.Hostname != "" {
		name = pod.Spec.Hostname
	}
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-.")
	}
	return name
}

// ResolvConf is a pod's /etc/resolv.conf by its dnsPolicy:
//
//   - ClusterFirst (the default): the cluster DNS, searching the pod's
//     namespace, then svc, then the cluster domain, then the node's own
//     search domains, ndots:5 — so "mysql" finds
//     mysql.<ns>.svc.cluster.local; without a cluster DNS address,
//     Default;
//   - Default: the node's own resolv.conf (nodeResolv);
//   - None: only what dnsConfig says;
//   - ClusterFirstWithHostNet: ClusterFirst (tinykube runs no host-network
//     pods differently).
//
// dnsConfig's nameservers and searches are added in every case (without
// duplicates), its options override those of the same name: ndots:2
// replaces ndots:5. Reference: Kubernetes' pkg/kubelet/network/dns
// (GetPodDNS, appendDNSConfig).
func ResolvConf(pod *corev1.Pod, clusterDNS, domain, nodeResolv string) string {
	nodeServers, nodeSearch, nodeOpts := parseResolvConf(nodeResolv)
	var servers, search, opts []string
	switch {
	case pod.Spec.DNSPolicy == corev1.DNSNone:
	case pod.Spec.DNSPolicy == corev1.DNSDefault || clusterDNS == "":
		servers, search, opts = nodeServers, nodeSearch, nodeOpts
	default:
		servers = []string{clusterDNS}
		if domain != "" {
			search = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
		}
		search = append(search, nodeSearch...)
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
	if search = unique(search); len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, s := range unique(servers) {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if opts = mergeOptions(opts); len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return b.String()
}

// parseResolvConf reads a resolv.conf as the kubelet does: nameservers
// add up, the last search line wins (without "." and trailing dots),
// options merge.
func parseResolvConf(content string) (servers, search, opts []string) {
	for _, line := range strings.Split(content, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search":
			search = nil
			for _, d := range f[1:] {
				if d != "." {
					search = append(search, strings.TrimSuffix(d, "."))
				}
			}
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	return servers, search, mergeOptions(opts)
}

// unique drops repeated strings, keeping the first of each.
func unique(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mergeOptions keeps one resolver option per name ("ndots" of
// "ndots:5"): the last one given, in the place of the first.
func mergeOptions(opts []string) []string {
	var out []string
	at := map[string]int{}
	for _, o := range opts {
		name, _, _ := strings.Cut(o, ":")
		if i, ok := at[name]; ok {
			out[i] = o
			continue
		}
		at[name] = len(out)
		out = append(out, o)
	}
	return out
}

// writePodFiles writes the pod's etc files into its directory.
func writePodFiles(dir string, pod *corev1.Pod, podIP, clusterDNS, domain string) error {
	etc := filepath.Join(dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	nodeResolv, _ := os.ReadFile("/etc/resolv.conf")
	for name, content := range map[string]string{
		"hosts":       HostsFile(pod, podIP, domain),
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
