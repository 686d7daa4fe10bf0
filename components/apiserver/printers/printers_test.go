package printers_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tinykube/tinykube/components/apiserver/printers"
)

// now is the fixed clock of every test.
var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// ago is a timestamp d before now.
func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// agoPtr is ago for optional timestamps.
func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

// header renders column definitions the way they read in a test table:
// names joined by commas, wide (priority 1) columns in brackets.
func header(cols []metav1.TableColumnDefinition) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
		if c.Priority == 1 {
			names[i] = "[" + c.Name + "]"
		}
	}
	return strings.Join(names, ",")
}

// cells builds the Table of obj and returns its only row's cells.
func cells(t *testing.T, obj runtime.Object) []interface{} {
	t.Helper()
	table, err := printers.Table(obj, metav1.IncludeNone, now)
	if err != nil {
		t.Fatalf("Table(%T): %v", obj, err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("Table(%T): %d rows, want 1", obj, len(table.Rows))
	}
	if got, want := len(table.Rows[0].Cells), len(table.ColumnDefinitions); got != want {
		t.Fatalf("Table(%T): %d cells for %d columns", obj, got, want)
	}
	return table.Rows[0].Cells
}

const defaultHeader = "Name,Created At"

// Reference: KUBECTL-CONTRACT.md, "get": every kind the apiserver serves has
// the columns of the real kube-apiserver.
func TestColumns(t *testing.T) {
	tests := []struct {
		obj  runtime.Object
		want string
	}{
		{&corev1.Pod{}, "Name,Ready,Status,Restarts,Age,[IP],[Node],[Nominated Node],[Readiness Gates]"},
		{&corev1.Node{}, "Name,Status,Roles,Age,Version,[Internal-IP],[External-IP],[OS-Image],[Kernel-Version],[Container-Runtime]"},
		{&corev1.Service{}, "Name,Type,Cluster-IP,External-IP,Port(s),Age,[Selector]"},
		{&corev1.Endpoints{}, "Name,Endpoints,Age"},
		{&corev1.Namespace{}, "Name,Status,Age"},
		{&corev1.ConfigMap{}, "Name,Data,Age"},
		{&corev1.Secret{}, "Name,Type,Data,Age"},
		{&corev1.ServiceAccount{}, "Name,Secrets,Age"},
		{&corev1.Event{}, "Last Seen,Type,Reason,Object,[Subobject],[Source],Message,[First Seen],[Count],[Name]"},
		{&corev1.ReplicationController{}, "Name,Desired,Current,Ready,Age,[Containers],[Images],[Selector]"},
		{&corev1.LimitRange{}, defaultHeader}, // upstream has no LimitRange printer
		{&corev1.ResourceQuota{}, "Name,Age,Request,Limit"},
		{&appsv1.Deployment{}, "Name,Ready,Up-to-date,Available,Age,[Containers],[Images],[Selector]"},
		{&appsv1.ReplicaSet{}, "Name,Desired,Current,Ready,Age,[Containers],[Images],[Selector]"},
		{&appsv1.DaemonSet{}, "Name,Desired,Current,Ready,Up-to-date,Available,Node Selector,Age,[Containers],[Images],[Selector]"},
		{&appsv1.StatefulSet{}, "Name,Ready,Age,[Containers],[Images]"},
		{&appsv1.ControllerRevision{}, "Name,Controller,Revision,Age"},
		{&batchv1.Job{}, "Name,Status,Completions,Duration,Age,[Containers],[Images],[Selector]"},
		{&batchv1.CronJob{}, "Name,Schedule,Timezone,Suspend,Active,Last Schedule,Age,[Containers],[Images],[Selector]"},
		{&coordinationv1.Lease{}, "Name,Holder,Age"},
		{&discoveryv1.EndpointSlice{}, "Name,AddressType,Ports,Endpoints,Age"},
		{&eventsv1.Event{}, "Last Seen,Type,Reason,Object,[Subobject],[Source],Message,[First Seen],[Count],[Name]"},
		{&networkingv1.Ingress{}, "Name,Class,Hosts,Address,Ports,Age"},
		{&autoscalingv2.HorizontalPodAutoscaler{}, "Name,Reference,Targets,MinPods,MaxPods,Replicas,Age"},
		{&rbacv1.Role{}, defaultHeader}, // not a kind this package knows
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T", tt.obj), func(t *testing.T) {
			if got := header(printers.Columns(tt.obj)); got != tt.want {
				t.Errorf("Columns(%T) =\n  %s\nwant\n  %s", tt.obj, got, tt.want)
			}
		})
	}
}

// emptyLists is a list of zero items of every kind the apiserver serves
// (components/apiserver/resources.go), LimitRange aside.
var emptyLists = []runtime.Object{
	&corev1.PodList{}, &corev1.NodeList{}, &corev1.ServiceList{}, &corev1.EndpointsList{},
	&corev1.NamespaceList{}, &corev1.ConfigMapList{}, &corev1.SecretList{},
	&corev1.ServiceAccountList{}, &corev1.EventList{}, &corev1.ReplicationControllerList{},
	&corev1.ResourceQuotaList{},
	&appsv1.DeploymentList{}, &appsv1.ReplicaSetList{}, &appsv1.DaemonSetList{},
	&appsv1.StatefulSetList{}, &appsv1.ControllerRevisionList{},
	&batchv1.JobList{}, &batchv1.CronJobList{},
	&coordinationv1.LeaseList{}, &discoveryv1.EndpointSliceList{}, &eventsv1.EventList{},
	&networkingv1.IngressList{}, &autoscalingv2.HorizontalPodAutoscalerList{},
}

// Every served kind has a table of its own, found from an empty list (no item
// to look at), and a zero object prints one cell per column.
func TestEveryKindHasATable(t *testing.T) {
	for _, list := range emptyLists {
		t.Run(fmt.Sprintf("%T", list), func(t *testing.T) {
			table, err := printers.Table(list, metav1.IncludeMetadata, now)
			if err != nil {
				t.Fatalf("Table: %v", err)
			}
			if h := header(table.ColumnDefinitions); h == defaultHeader {
				t.Errorf("%T has the default table", list)
			}
			if len(table.Rows) != 0 {
				t.Errorf("%d rows for an empty list", len(table.Rows))
			}
			if !cmp.Equal(table.ColumnDefinitions, printers.Columns(list)) {
				t.Errorf("Table and Columns disagree:\n%s", cmp.Diff(table.ColumnDefinitions, printers.Columns(list)))
			}
			for _, c := range table.ColumnDefinitions {
				if c.Description == "" || c.Type == "" {
					t.Errorf("column %q lacks a type or description", c.Name)
				}
				if c.Name == "Name" && c.Format != "name" {
					t.Errorf("Name column has format %q, want name", c.Format)
				}
			}
		})
	}
}

// LimitRange prints the default table, as upstream's does: no printer was
// ever written for it.
//
// Reference: k8s.io/kubernetes pkg/registry/core/limitrange/storage/storage.go
// ("TODO: define table converter that exposes more than name/creation timestamp").
func TestDefaultTable(t *testing.T) {
	created := ago(90 * time.Minute)
	for _, obj := range []runtime.Object{
		&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default", CreationTimestamp: created}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default", CreationTimestamp: created}},
	} {
		table, err := printers.Table(obj, metav1.IncludeMetadata, now)
		if err != nil {
			t.Fatalf("Table(%T): %v", obj, err)
		}
		want := []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		}
		if diff := cmp.Diff(want, table.ColumnDefinitions); diff != "" {
			t.Errorf("%T columns (-want +got):\n%s", obj, diff)
		}
		if diff := cmp.Diff([]interface{}{"limits", "2026-05-01T10:30:00Z"}, table.Rows[0].Cells); diff != "" {
			t.Errorf("%T cells (-want +got):\n%s", obj, diff)
		}
	}
}

// A list gives one row per item, in order, each carrying the item's metadata
// as a PartialObjectMetadata, which kubectl needs for -A and --show-labels.
func TestListRowsCarryMetadata(t *testing.T) {
	list := &corev1.ConfigMapList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next-page"},
		Items: []corev1.ConfigMap{
			{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default", Labels: map[string]string{"app": "web"}, CreationTimestamp: ago(time.Hour)}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "kube-system", UID: "uid-b"}, Data: map[string]string{"k": "v"}},
		},
	}
	table, err := printers.Table(list, metav1.IncludeMetadata, now)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	if table.APIVersion != "meta.k8s.io/v1" || table.Kind != "Table" {
		t.Errorf("table is %s %s, want meta.k8s.io/v1 Table", table.APIVersion, table.Kind)
	}
	if table.ResourceVersion != "42" || table.Continue != "next-page" {
		t.Errorf("table metadata = %+v, want the list's resourceVersion and continue", table.ListMeta)
	}
	if len(table.Rows) != 2 {
		t.Fatalf("%d rows, want 2", len(table.Rows))
	}
	want := []*metav1.PartialObjectMetadata{
		{
			TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
			ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default", Labels: map[string]string{"app": "web"}, CreationTimestamp: ago(time.Hour)},
		},
		{
			TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
			ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "kube-system", UID: "uid-b"},
		},
	}
	for i, row := range table.Rows {
		got, ok := row.Object.Object.(*metav1.PartialObjectMetadata)
		if !ok {
			t.Fatalf("row %d object is %T, want *PartialObjectMetadata", i, row.Object.Object)
		}
		if diff := cmp.Diff(want[i], got); diff != "" {
			t.Errorf("row %d object (-want +got):\n%s", i, diff)
		}
	}
	if diff := cmp.Diff([]interface{}{"a", int64(0), "60m"}, table.Rows[0].Cells); diff != "" {
		t.Errorf("row 0 cells (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]interface{}{"b", int64(1), "<unknown>"}, table.Rows[1].Cells); diff != "" {
		t.Errorf("row 1 cells (-want +got):\n%s", diff)
	}

	// The rows' metadata is a copy: the caller's list is untouched and
	// changing the Table does not change it.
	table.Rows[0].Object.Object.(*metav1.PartialObjectMetadata).Labels["app"] = "changed"
	if list.Items[0].Labels["app"] != "web" {
		t.Errorf("changing the Table changed the list")
	}
	if list.Items[0].Kind != "" {
		t.Errorf("Table set the kind of the caller's item to %q", list.Items[0].Kind)
	}
}

// Reference: k8s.io/apiserver pkg/endpoints/handlers/response.go, asTable:
// includeObject chooses what rows[].object holds.
func TestIncludeObject(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "7"}}
	tests := []struct {
		policy metav1.IncludeObjectPolicy
		check  func(t *testing.T, obj runtime.Object)
	}{
		{metav1.IncludeNone, func(t *testing.T, obj runtime.Object) {
			if obj != nil {
				t.Errorf("object = %T, want nil", obj)
			}
		}},
		{metav1.IncludeMetadata, func(t *testing.T, obj runtime.Object) {
			if gvk := obj.GetObjectKind().GroupVersionKind(); gvk != metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata") {
				t.Errorf("object kind = %v", gvk)
			}
		}},
		{"", func(t *testing.T, obj runtime.Object) { // the default is Metadata
			if _, ok := obj.(*metav1.PartialObjectMetadata); !ok {
				t.Errorf("object = %T, want *PartialObjectMetadata", obj)
			}
		}},
		{metav1.IncludeObject, func(t *testing.T, obj runtime.Object) {
			full, ok := obj.(*corev1.Pod)
			if !ok {
				t.Fatalf("object = %T, want *v1.Pod", obj)
			}
			if full.APIVersion != "v1" || full.Kind != "Pod" || full.Name != "web" {
				t.Errorf("object = %s %s %q, want v1 Pod \"web\"", full.APIVersion, full.Kind, full.Name)
			}
			if full == pod {
				t.Errorf("object is the caller's pod, want a copy")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			table, err := printers.Table(pod, tt.policy, now)
			if err != nil {
				t.Fatalf("Table: %v", err)
			}
			if table.ResourceVersion != "7" {
				t.Errorf("resourceVersion = %q, want the object's", table.ResourceVersion)
			}
			tt.check(t, table.Rows[0].Object.Object)
		})
	}
	if pod.Kind != "" {
		t.Errorf("Table set the kind of the caller's pod")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		obj    runtime.Object
		policy metav1.IncludeObjectPolicy
		want   error
	}{
		{"bad includeObject", &corev1.Pod{}, "Everything", printers.ErrBadIncludeObject},
		{"no metadata", &metav1.Status{}, metav1.IncludeMetadata, printers.ErrNotAcceptable},
		{"nil", (*corev1.Pod)(nil), metav1.IncludeMetadata, printers.ErrNotAcceptable},
		{"bad owner apiVersion", &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{
			Name:            "web-1",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "a/b/c", Kind: "StatefulSet", Name: "web", Controller: ptr(true)}},
		}}, metav1.IncludeMetadata, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := printers.Table(tt.obj, tt.policy, now)
			if err == nil {
				t.Fatalf("Table succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// The Table goes on the wire as JSON in the shape kubectl decodes.
func TestTableJSON(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", Labels: map[string]string{"app": "db"}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{{Port: 3306, Protocol: corev1.ProtocolTCP}}},
	}
	table, err := printers.Table(&corev1.ServiceList{Items: []corev1.Service{*svc}}, metav1.IncludeMetadata, now)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	data, err := json.Marshal(table)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var got struct {
		Kind, APIVersion  string
		ColumnDefinitions []struct {
			Name     string
			Priority int
		}
		Rows []struct {
			Cells  []interface{}
			Object struct {
				Kind, APIVersion string
				Metadata         struct {
					Name, Namespace string
					Labels          map[string]string
				}
			}
		}
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("Unmarshal: %v\n%s", err, data)
	}
	row := got.Rows[0]
	if got.Kind != "Table" || got.APIVersion != "meta.k8s.io/v1" ||
		row.Object.Kind != "PartialObjectMetadata" || row.Object.APIVersion != "meta.k8s.io/v1" ||
		row.Object.Metadata.Namespace != "default" || row.Object.Metadata.Labels["app"] != "db" {
		t.Errorf("unexpected JSON:\n%s", data)
	}
	if want := []interface{}{"db", "ClusterIP", "10.96.0.20", "<none>", "3306/TCP", "<unknown>", "<none>"}; !cmp.Equal(want, row.Cells) {
		t.Errorf("cells = %v, want %v", row.Cells, want)
	}
	if c := got.ColumnDefinitions[6]; c.Name != "Selector" || c.Priority != 1 {
		t.Errorf("column 6 = %+v, want wide Selector", c)
	}
}

func TestColumnsForKind(t *testing.T) {
	tests := []struct {
		gvk  schema.GroupVersionKind
		want runtime.Object
	}{
		{corev1.SchemeGroupVersion.WithKind("Pod"), &corev1.Pod{}},
		{appsv1.SchemeGroupVersion.WithKind("Deployment"), &appsv1.Deployment{}},
		{eventsv1.SchemeGroupVersion.WithKind("Event"), &eventsv1.Event{}},
		{corev1.SchemeGroupVersion.WithKind("LimitRange"), &corev1.LimitRange{}},
		{schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, &rbacv1.Role{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(printers.Columns(tt.want), printers.ColumnsForKind(tt.gvk)); diff != "" {
			t.Errorf("ColumnsForKind(%v) (-want +got):\n%s", tt.gvk, diff)
		}
	}

	// The definitions are the caller's to change.
	cols := printers.Columns(&corev1.Pod{})
	cols[0].Name = "changed"
	if printers.Columns(&corev1.Pod{})[0].Name != "Name" {
		t.Errorf("changing returned columns changed the package's")
	}
}

func ptr[T any](v T) *T { return &v }
