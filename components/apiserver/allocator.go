package apiserver

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/netip"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// NodePort range, as in Kubernetes.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

// serviceAllocator hands out ClusterIPs and NodePorts. Each address or
// port in use is one etcd key, claimed with a create-if-absent
// transaction, so two creates (or two apiservers, or an apiserver that
// restarted) never hand out the same one:
//
//	/registry/ranges/serviceips/10.96.0.1
//	/registry/ranges/servicenodeports/30080
type serviceAllocator struct {
	etcd    *clientv3.Client
	network netip.Prefix
	size    int64 // addresses usable for services
}

func newServiceAllocator(c *clientv3.Client, cidr string) (*serviceAllocator, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("apiserver: service-cluster-ip-range %q: want an IPv4 network such as 10.96.0.0/12", cidr)
	}
	size := int64(1)<<(32-p.Bits()) - 2 // no network, no broadcast address
	return &serviceAllocator{etcd: c, network: p.Masked(), size: size}, nil
}

const (
	ipPrefix   = "/registry/ranges/serviceips/"
	portPrefix = "/registry/ranges/servicenodeports/"
)

// claim takes key if nobody has it.
func (a *serviceAllocator) claim(ctx context.Context, key, owner string) (bool, error) {
	resp, err := a.etcd.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).
		Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

func (a *serviceAllocator) free(key string) {
	a.etcd.Delete(context.Background(), key)
}

// nth returns the n-th usable address (n from 1).
func (a *serviceAllocator) nth(n int64) netip.Addr {
	b := a.network.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func randInt(n int64) int64 {
	v, _ := rand.Int(rand.Reader, big.NewInt(n))
	return v.Int64()
}

// allocateIP claims want, or a random free address if want is empty.
func (a *serviceAllocator) allocateIP(ctx context.Context, want, owner string, dryRun bool) (string, error) {
	if want != "" {
		ip, err := netip.ParseAddr(want)
		if err != nil || !a.network.Contains(ip) {
			return "", fmt.Errorf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", want, want, a.network)
		}
		if dryRun {
			return want, nil
		}
		ok, err := a.claim(ctx, ipPrefix+want, owner)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("failed to allocate IP %s: provided IP is already allocated", want)
		}
		return want, nil
	}
	// Random picks, as Kubernetes does (KEP-3070): the lower band of the
	// range (16 to 256 addresses, 10.96.0.0–10.96.0.255 by default) is left
	// to Services that ask for an address, such as kube-dns at 10.96.0.10;
	// random picks use it only once the rest is full.
	band := min(max(16, a.size/16), 256)
	for try := 0; try < 96; try++ {
		offset := band + randInt(a.size-band+1)
		if try >= 64 || a.size <= band {
			offset = 2 + randInt(a.size-1) // the upper band seems full
		}
		ip := a.nth(offset).String()
		if dryRun {
			return ip, nil
		}
		ok, err := a.claim(ctx, ipPrefix+ip, owner)
		if err != nil {
			return "", err
		}
		if ok {
			return ip, nil
		}
	}
	return "", fmt.Errorf("failed to allocate a service IP: range %s is full", a.network)
}

func (a *serviceAllocator) allocatePort(ctx context.Context, want int32, owner string, dryRun bool) (int32, error) {
	if want != 0 {
		if want < NodePortMin || want > NodePortMax {
			return 0, fmt.Errorf("provided port is not in the valid range. The range of valid ports is %d-%d", NodePortMin, NodePortMax)
		}
		if dryRun {
			return want, nil
		}
		ok, err := a.claim(ctx, fmt.Sprint(portPrefix, want), owner)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("provided port is already allocated")
		}
		return want, nil
	}
	for try := 0; try < 64; try++ {
		p := int32(NodePortMin + randInt(NodePortMax-NodePortMin+1))
		if dryRun {
			return p, nil
		}
		ok, err := a.claim(ctx, fmt.Sprint(portPrefix, p), owner)
		if err != nil {
			return 0, err
		}
		if ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("failed to allocate a node port: range %d-%d is full", NodePortMin, NodePortMax)
}

func needsNodePorts(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

// needsHealthCheckPort: a LoadBalancer Service with externalTrafficPolicy
// Local gets one more node port, spec.healthCheckNodePort, on which every
// node's kube-proxy answers whether that node has endpoints of the
// Service (a load balancer sends traffic only to the nodes that say yes).
func needsHealthCheckPort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// allocate gives a new Service its ClusterIP and node ports. The returned
// func gives them back (when the write fails).
func (s *Server) allocate(ctx context.Context, obj runtime.Object, dryRun bool) (func(), error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return func() {}, nil
	}
	var keys []string
	release := func() {
		for _, k := range keys {
			s.services.free(k)
		}
	}
	owner := svc.Namespace + "/" + svc.Name
	invalid := func(path *field.Path, value any, err error) error {
		release()
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name,
			field.ErrorList{field.Invalid(path, value, err.Error())})
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		ip, err := s.services.allocateIP(ctx, svc.Spec.ClusterIP, owner, dryRun)
		if err != nil {
			return nil, invalid(field.NewPath("spec", "clusterIPs"), []string{svc.Spec.ClusterIP}, err)
		}
		keys = append(keys, ipPrefix+ip)
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
	} else if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
	}
	if needsNodePorts(svc.Spec.Type) {
		for i := range svc.Spec.Ports {
			p, err := s.services.allocatePort(ctx, svc.Spec.Ports[i].NodePort, owner, dryRun)
			if err != nil {
				return nil, invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), svc.Spec.Ports[i].NodePort, err)
			}
			keys = append(keys, fmt.Sprint(portPrefix, p))
			svc.Spec.Ports[i].NodePort = p
		}
	}
	if needsHealthCheckPort(svc) {
		p, err := s.services.allocatePort(ctx, svc.Spec.HealthCheckNodePort, owner, dryRun)
		if err != nil {
			return nil, invalid(field.NewPath("spec", "healthCheckNodePort"), svc.Spec.HealthCheckNodePort, err)
		}
		keys = append(keys, fmt.Sprint(portPrefix, p))
		svc.Spec.HealthCheckNodePort = p
	}
	if dryRun {
		keys = nil
	}
	return release, nil
}

// reallocate keeps an updated Service's allocations right: the ClusterIP
// stays (validation refuses a change), node ports are claimed for a type
// that needs them and freed when it no longer does.
func (s *Server) reallocate(ctx context.Context, next, old runtime.Object) (claimed, unused []string, err error) {
	svc, ok := next.(*corev1.Service)
	if !ok {
		return nil, nil, nil
	}
	prev := old.(*corev1.Service)
	if svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = prev.Spec.ClusterIP, prev.Spec.ClusterIPs
	}
	had := map[int32]bool{}
	for _, p := range prev.Spec.Ports {
		if p.NodePort != 0 {
			had[p.NodePort] = true
		}
	}
	keep := map[int32]bool{}
	if needsNodePorts(svc.Spec.Type) {
		owner := svc.Namespace + "/" + svc.Name
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 {
				// Keep the port this Service port had, by name or number.
				for _, q := range prev.Spec.Ports {
					if q.NodePort != 0 && q.Name == p.Name && q.Port == p.Port {
						p.NodePort = q.NodePort
					}
				}
			}
			if p.NodePort != 0 && had[p.NodePort] {
				keep[p.NodePort] = true
				continue
			}
			got, err := s.services.allocatePort(ctx, p.NodePort, owner, false)
			if err != nil {
				return claimed, nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name,
					field.ErrorList{field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort, err.Error())})
			}
			claimed = append(claimed, fmt.Sprint(portPrefix, got))
			p.NodePort = got
			keep[got] = true
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if prev.Spec.HealthCheckNodePort != 0 {
		had[prev.Spec.HealthCheckNodePort] = true
	}
	if needsHealthCheckPort(svc) {
		if p := svc.Spec.HealthCheckNodePort; p != 0 && p == prev.Spec.HealthCheckNodePort {
			keep[p] = true
		} else {
			got, err := s.services.allocatePort(ctx, p, svc.Namespace+"/"+svc.Name, false)
			if err != nil {
				return claimed, nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name,
					field.ErrorList{field.Invalid(field.NewPath("spec", "healthCheckNodePort"), p, err.Error())})
			}
			claimed = append(claimed, fmt.Sprint(portPrefix, got))
			svc.Spec.HealthCheckNodePort = got
			keep[got] = true
		}
	} else {
		svc.Spec.HealthCheckNodePort = 0
	}
	for p := range had {
		if !keep[p] {
			unused = append(unused, fmt.Sprint(portPrefix, p))
		}
	}
	return claimed, unused, nil
}

// release gives back what a deleted Service held.
func (s *Server) release(obj runtime.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		s.services.free(ipPrefix + svc.Spec.ClusterIP)
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			s.services.free(fmt.Sprint(portPrefix, p.NodePort))
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		s.services.free(fmt.Sprint(portPrefix, svc.Spec.HealthCheckNodePort))
	}
}
