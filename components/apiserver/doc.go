// Package apiserver is the reference apiserver component: the Kubernetes
// API over etcd, spoken well enough for the real kubectl and client-go.
//
// Subpackages, each usable and tested on its own:
//   - storage: objects in etcd under /registry/..., resourceVersion = etcd
//     revision, compare-and-swap updates, lists with paging, watches;
//   - admission: defaults and validation, as Kubernetes sets and checks them;
//   - printers: the Table columns `kubectl get` shows for each kind;
//   - openapi: the OpenAPI v3 documents kubectl validates and explains with.
package apiserver
