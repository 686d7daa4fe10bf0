package apiserver

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// servePodLog answers GET .../pods/<name>/log (`kubectl logs`): it finds
// the pod's node and streams the kubelet's answer from
// https://<node>:10250/containerLogs/<ns>/<pod>/<container>, with the
// query (follow, previous, tailLines, limitBytes) passed on. The
// apiserver authenticates to the kubelet with its own client certificate.
func (s *Server) servePodLog(w http.ResponseWriter, r *http.Request, req request) error {
	ctx := r.Context()
	obj, err := s.store(req.resource).Get(ctx, req.namespace, req.name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	q := r.URL.Query()
	container := q.Get("container")
	if container == "" {
		if len(pod.Spec.Containers) != 1 {
			var names []string
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			return badRequest("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
		}
		container = pod.Spec.Containers[0].Name
	}
	if !hasContainer(pod, container) {
		return badRequest("container %s is not valid for pod %s", container, pod.Name)
	}
	if pod.Spec.NodeName == "" {
		return badRequest("container %q in pod %q is waiting to start: the pod is not scheduled to a node yet", container, pod.Name)
	}
	base, err := s.kubeletURL(r, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	if s.kubeletClient == nil {
		return statusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "this apiserver has no client certificate for kubelets (setting kubelet-client-certificate)")
	}
	pass := url.Values{}
	for _, k := range []string{"follow", "previous", "tailLines", "limitBytes", "timestamps", "sinceSeconds"} {
		if v := q.Get(k); v != "" {
			pass.Set(k, v)
		}
	}
	target := fmt.Sprintf("%s/containerLogs/%s/%s/%s?%s", base, url.PathEscape(pod.Namespace), url.PathEscape(pod.Name), url.PathEscape(container), pass.Encode())
	out, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := s.kubeletClient.Do(out)
	if err != nil {
		return statusError(http.StatusBadGateway, metav1.StatusReasonServiceUnavailable, fmt.Sprintf("the kubelet on node %s does not answer: %v", pod.Spec.NodeName, err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return statusError(resp.StatusCode, metav1.StatusReasonBadRequest, strings.TrimSpace(string(msg)))
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return nil
		}
	}
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == name {
			return true
		}
	}
	return false
}

// kubeletURL is where the kubelet of a node answers, from its Node object.
func (s *Server) kubeletURL(r *http.Request, nodeName string) (string, error) {
	obj, err := s.store(lookup("", "v1", "nodes")).Get(r.Context(), "", nodeName)
	if err != nil {
		return "", statusError(http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("node %q not found: its kubelet has not registered", nodeName))
	}
	node := obj.(*corev1.Node)
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = 10250
	}
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return "https://" + net.JoinHostPort(a.Address, strconv.Itoa(port)), nil
		}
	}
	return "", badRequest("node %s has no InternalIP address", nodeName)
}

// servePodExec answers .../pods/<name>/exec (`kubectl exec`): the client's
// WebSocket upgrade is passed to the pod's kubelet at
// /exec/<ns>/<pod>/<container>, and once the kubelet has switched
// protocols the apiserver only copies bytes both ways.
func (s *Server) servePodExec(w http.ResponseWriter, r *http.Request, req request) error {
	obj, err := s.store(req.resource).Get(r.Context(), req.namespace, req.name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	q := r.URL.Query()
	container := q.Get("container")
	if container == "" {
		if len(pod.Spec.Containers) != 1 {
			var names []string
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			return badRequest("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
		}
		container = pod.Spec.Containers[0].Name
	}
	if !hasContainer(pod, container) {
		return badRequest("container %s is not valid for pod %s", container, pod.Name)
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase != corev1.PodRunning {
		return badRequest("unable to upgrade connection: pod %s is not running (phase %s)", pod.Name, pod.Status.Phase)
	}
	if s.kubeletClient == nil {
		return statusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "this apiserver has no client certificate for kubelets (setting kubelet-client-certificate)")
	}
	base, err := s.kubeletURL(r, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return badRequest("unable to upgrade connection: tinykube serves exec over WebSocket (v5.channel.k8s.io), as kubectl 1.30+ speaks it; SPDY is not served")
	}
	target, _ := url.Parse(fmt.Sprintf("%s/exec/%s/%s/%s", base, url.PathEscape(pod.Namespace), url.PathEscape(pod.Name), url.PathEscape(container)))
	pass := url.Values{}
	for _, k := range []string{"command", "stdin", "stdout", "stderr", "tty"} {
		pass[k] = q[k]
	}
	target.RawQuery = pass.Encode()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = target.Host
			pr.Out.Method = http.MethodGet
			pr.Out.Header.Del("Authorization")
		},
		Transport: s.kubeletClient.Transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, statusError(http.StatusBadGateway, metav1.StatusReasonServiceUnavailable, fmt.Sprintf("the kubelet on node %s does not answer: %v", pod.Spec.NodeName, err)))
		},
	}
	proxy.ServeHTTP(w, r)
	return nil
}
