// Package printers turns the objects the apiserver serves into the tables
// that `kubectl get` prints.
//
// # kubectl does not format tables
//
// It is natural to assume that kubectl knows what a pod looks like and lays
// out NAME, READY, STATUS, RESTARTS and AGE itself. It does not. When kubectl
// runs `get`, it sends the ordinary list request with an Accept header asking
// for a different representation:
//
//	Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json
//
// and the apiserver answers with a meta.k8s.io/v1 Table instead of a PodList:
//
//	{"kind": "Table", "apiVersion": "meta.k8s.io/v1",
//	 "columnDefinitions": [{"name": "Name", "type": "string", "format": "name", ...},
//	                       {"name": "Ready", "type": "string", ...}, ...,
//	                       {"name": "IP", "type": "string", "priority": 1, ...}],
//	 "rows": [{"cells": ["web-1", "1/1", "Running", "0", "5m", "10.244.1.7", ...],
//	           "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
//	                      "metadata": {"name": "web-1", "namespace": "default", ...}}}]}
//
// kubectl upper-cases the column names and prints the cells as they come. So
// the server decides what "Running" or "CrashLoopBackOff" means, and a new
// kind gets a useful `kubectl get` without a new kubectl: the knowledge lives
// next to the API, in this package. (Custom resources do the same through the
// additionalPrinterColumns of their CRD.) Without a Table, kubectl falls back
// to NAME and AGE.
//
// Three details of the format matter to kubectl:
//   - Wide columns have priority 1. The server always sends every cell; kubectl
//     hides priority-1 columns unless asked for `-o wide`. That is why
//     `kubectl get -o wide` sends exactly the same request as `kubectl get`.
//   - rows[].object carries each object's metadata as a PartialObjectMetadata
//     (the includeObject=Metadata default). kubectl reads the namespace from it
//     for the NAMESPACE column of `-A`, and the labels for `--show-labels`.
//   - Cells are JSON values: strings, or int64 for counts. Ages are already
//     rendered ("5m", "3d4h"), computed against the server's clock.
//
// The columns and cell formats here follow the real kube-apiserver
// (k8s.io/kubernetes pkg/printers/internalversion/printers.go), with column
// descriptions taken from the API types' documentation as upstream does.
//
// # Using the package
//
// Table(obj, includeObject, now) builds the Table for one object or a list;
// Columns(obj) and ColumnsForKind(gvk) return just the column definitions.
// Everything is a pure function: the clock is the now argument.
//
// An apiserver handler must:
//  1. Recognise a Table request: an Accept header naming as=Table;g=meta.k8s.io;v=v1
//     (kubectl lists it first; the real apiserver also accepts v1beta1).
//  2. Read includeObject from the query (empty means Metadata), load the object
//     or list as usual, and call Table with the current time.
//  3. Map errors: ErrBadIncludeObject to 400 Bad Request, ErrNotAcceptable to
//     406 Not Acceptable, anything else to 500.
//  4. Encode the Table as JSON. Table copies resourceVersion and continue from
//     the list it is given; overwrite them if paging or watching needs others.
//  5. For a watch (`kubectl get -w`), send each event's object as a Table with
//     one row, and include columnDefinitions in the first event only, as the
//     real apiserver does: set ColumnDefinitions to nil on later events.
//     Columns gives the definitions without building a row.
//
// Reference: https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables;
// kubectl's side is in KUBECTL-CONTRACT.md, "get" and "get -w".
package printers
