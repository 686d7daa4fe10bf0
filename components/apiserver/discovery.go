package apiserver

import (
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Discovery tells clients which resources exist: kubectl reads it before
// every resource command to turn "rc" into replicationcontrollers in
// group "" version v1. Two forms are served: the aggregated one (all
// groups in one answer, what kubectl asks for first) and the legacy one
// (one request per group version).
// Reference: KUBECTL-CONTRACT.md, "Discovery".

// Aggregated discovery's content type, which kubectl puts first in Accept.
const aggregatedType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// verbs lists what a resource supports, as discovery says it.
func verbs(r *Resource) []string {
	return []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
}

// groupVersions returns the served group versions, core first.
func groupVersions() []schema.GroupVersion {
	var out []schema.GroupVersion
	seen := map[schema.GroupVersion]bool{}
	for _, r := range Resources {
		gv := r.GVR.GroupVersion()
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

func subresources(r *Resource) []string {
	var subs []string
	if r.Status {
		subs = append(subs, "status")
	}
	if r.Scale {
		subs = append(subs, "scale")
	}
	if r.GVR.Resource == "pods" {
		subs = append(subs, "binding", "exec", "log")
	}
	if r.GVR.Resource == "serviceaccounts" {
		subs = append(subs, "token")
	}
	return subs
}

// subresourceInfo is the kind a subresource answers with and its verbs.
func subresourceInfo(r *Resource, sub string) (metav1.GroupVersionKind, []string) {
	switch sub {
	case "scale":
		return metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, []string{"get", "patch", "update"}
	case "binding":
		return metav1.GroupVersionKind{Version: "v1", Kind: "Binding"}, []string{"create"}
	case "log":
		return metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"get"}
	case "exec":
		return metav1.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}, []string{"create", "get"}
	case "token":
		return metav1.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}, []string{"create"}
	}
	return metav1.GroupVersionKind{Group: r.GVR.Group, Version: r.GVR.Version, Kind: r.Kind}, []string{"get", "patch", "update"}
}

// aggregated builds the discovery document for the core group (core true)
// or all the named groups.
func aggregated(core bool) *apidiscoveryv2.APIGroupDiscoveryList {
	list := &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"},
	}
	groups := map[string]*apidiscoveryv2.APIGroupDiscovery{}
	for _, gv := range groupVersions() {
		if (gv.Group == "") != core {
			continue
		}
		g := groups[gv.Group]
		if g == nil {
			list.Items = append(list.Items, apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: gv.Group}})
			g = &list.Items[len(list.Items)-1]
			groups[gv.Group] = g
		}
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range Resources {
			if r.GVR.GroupVersion() != gv {
				continue
			}
			scope := apidiscoveryv2.ScopeCluster
			if r.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			gvk := r.GVK()
			rd := apidiscoveryv2.APIResourceDiscovery{
				Resource:         r.GVR.Resource,
				ResponseKind:     &metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
				Scope:            scope,
				SingularResource: r.Singular(),
				Verbs:            verbs(r),
				ShortNames:       r.ShortNames,
				Categories:       r.Categories,
			}
			for _, sub := range subresources(r) {
				kind, subVerbs := subresourceInfo(r, sub)
				rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{Subresource: sub, ResponseKind: &kind, Verbs: subVerbs})
			}
			v.Resources = append(v.Resources, rd)
		}
		g.Versions = append(g.Versions, v)
	}
	if !core {
		list.Items = append(list.Items, metricsAggregated())
	}
	return list
}

// resourceList is legacy discovery for one group version.
func resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
	}
	for _, r := range Resources {
		if r.GVR.GroupVersion() != gv {
			continue
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.GVR.Resource, SingularName: r.Singular(), Namespaced: r.Namespaced,
			Kind: r.Kind, Verbs: verbs(r), ShortNames: r.ShortNames, Categories: r.Categories,
		})
		for _, sub := range subresources(r) {
			kind, subVerbs := subresourceInfo(r, sub)
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: r.GVR.Resource + "/" + sub, Namespaced: r.Namespaced,
				Group: kind.Group, Version: kind.Version, Kind: kind.Kind, Verbs: subVerbs,
			})
		}
	}
	return list
}

func groupList() *metav1.APIGroupList {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	index := map[string]int{}
	for _, gv := range groupVersions() {
		if gv.Group == "" {
			continue
		}
		gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
		if i, ok := index[gv.Group]; ok {
			list.Groups[i].Versions = append(list.Groups[i].Versions, gvd)
			continue
		}
		index[gv.Group] = len(list.Groups)
		list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{gvd}, PreferredVersion: gvd})
	}
	mgv := metricsGroupForDiscovery()
	list.Groups = append(list.Groups, metav1.APIGroup{Name: metricsGV.Group, Versions: []metav1.GroupVersionForDiscovery{mgv}, PreferredVersion: mgv})
	return list
}

// serveDiscovery answers discovery paths; it reports whether path was one.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) bool {
	path := strings.TrimSuffix(r.URL.Path, "/")
	wantsAggregated := strings.Contains(r.Header.Get("Accept"), "as=APIGroupDiscoveryList")
	switch {
	case path == "/api" && wantsAggregated:
		writeJSONType(w, http.StatusOK, aggregatedType, aggregated(true))
	case path == "/apis" && wantsAggregated:
		writeJSONType(w, http.StatusOK, aggregatedType, aggregated(false))
	case path == "/api":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: s.advertise},
			},
		})
	case path == "/apis":
		writeJSON(w, http.StatusOK, groupList())
	default:
		parts := strings.Split(strings.Trim(path, "/"), "/")
		switch {
		case len(parts) == 2 && parts[0] == "api" && parts[1] == "v1":
			writeJSON(w, http.StatusOK, resourceList(schema.GroupVersion{Version: "v1"}))
		case len(parts) == 2 && parts[0] == "apis":
			for _, g := range groupList().Groups {
				if g.Name == parts[1] {
					g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
					writeJSON(w, http.StatusOK, &g)
					return true
				}
			}
			return false
		case len(parts) == 3 && parts[0] == "apis":
			gv := schema.GroupVersion{Group: parts[1], Version: parts[2]}
			if gv == metricsGV {
				writeJSON(w, http.StatusOK, &metav1.APIResourceList{
					TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
					GroupVersion: gv.String(), APIResources: metricsAPIResources(),
				})
				return true
			}
			for _, known := range groupVersions() {
				if known == gv {
					writeJSON(w, http.StatusOK, resourceList(gv))
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return true
}
