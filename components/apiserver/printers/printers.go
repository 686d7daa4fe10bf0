package printers

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrNotAcceptable is returned (wrapped) when an object cannot be shown as a
// Table because it has no metadata. The real apiserver answers such a request
// with 406 Not Acceptable.
var ErrNotAcceptable = errors.New("printers: object cannot be converted to a Table")

// ErrBadIncludeObject is returned (wrapped) when includeObject is not one of
// metav1.IncludeNone, IncludeMetadata, IncludeObject (or empty). The real
// apiserver answers 400 Bad Request.
var ErrBadIncludeObject = errors.New("printers: unrecognized includeObject value")

// tableGVK is what a Table calls itself on the wire.
var tableGVK = metav1.SchemeGroupVersion.WithKind("Table")

// partialGVK is what each rows[].object calls itself under IncludeMetadata.
var partialGVK = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata")

// Table builds the Table for one object or a list (a *v1.PodList etc.: one row
// per item), the answer to a GET whose Accept header asks for
// `as=Table;g=meta.k8s.io;v=v1`.
//
// Every row carries all columns, wide ones (priority 1) included: like the
// real apiserver, the server always sends everything and kubectl hides the
// priority-1 columns unless given `-o wide`.
//
// includeObject says what goes into rows[].object:
//   - metav1.IncludeMetadata (or ""): a PartialObjectMetadata
//     (apiVersion meta.k8s.io/v1) holding the object's metadata. This is what
//     kubectl asks for by default; it reads namespace and labels from it for
//     `-A` and `--show-labels`.
//   - metav1.IncludeObject: a copy of the full object, with apiVersion and kind set.
//   - metav1.IncludeNone: nothing.
//
// now is the clock reading that AGE and other "how long ago" cells are computed
// against, so that tests are deterministic.
//
// The Table's metadata copies resourceVersion, continue and
// remainingItemCount from a list's ListMeta, or the resourceVersion of a
// single object, as the apiserver does; the caller may overwrite them.
//
// Table never modifies obj; the returned Table may share strings with it but
// no maps or slices the caller could mutate through it. Errors wrap
// ErrNotAcceptable or ErrBadIncludeObject, or report an object whose fields
// cannot be printed (a controller reference with a malformed apiVersion).
func Table(obj runtime.Object, includeObject metav1.IncludeObjectPolicy, now time.Time) (*metav1.Table, error) {
	if v := reflect.ValueOf(obj); obj == nil || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return nil, fmt.Errorf("%w: nil object", ErrNotAcceptable)
	}
	switch includeObject {
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject, "":
	default:
		return nil, fmt.Errorf("%w: %q", ErrBadIncludeObject, includeObject)
	}

	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, fmt.Errorf("%w: %T: %v", ErrNotAcceptable, obj, err)
		}
	} else {
		items = []runtime.Object{obj}
	}

	p := printerFor(obj)
	table := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: tableGVK.GroupVersion().String(), Kind: tableGVK.Kind},
		ColumnDefinitions: p.Columns(),
		Rows:              make([]metav1.TableRow, 0, len(items)),
	}
	for _, item := range items {
		row, err := p.row(item, now)
		if err != nil {
			return nil, err
		}
		if row.Object.Object, err = rowObject(item, p.gvk, includeObject); err != nil {
			return nil, err
		}
		table.Rows = append(table.Rows, row)
	}

	// Reference: k8s.io/kubernetes pkg/printers/tablegenerator.go, GenerateTable.
	if l, err := meta.ListAccessor(obj); err == nil {
		table.ResourceVersion = l.GetResourceVersion()
		table.Continue = l.GetContinue()
		table.RemainingItemCount = l.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	return table, nil
}

// Columns returns the column definitions of the Table that Table would build
// for obj, which may be a single object or a list (even an empty one). A watch
// handler uses it because the real apiserver sends columnDefinitions only in
// the first event of a `kubectl get -w` stream. Objects of kinds without a
// printer get the default columns (Name, Created At).
//
// The returned slice is a fresh copy the caller may modify.
func Columns(obj runtime.Object) []metav1.TableColumnDefinition {
	return printerFor(obj).Columns()
}

// ColumnsForKind is Columns for a group, version and kind, such as
// apps/v1 Deployment. Unknown kinds get the default columns.
func ColumnsForKind(gvk schema.GroupVersionKind) []metav1.TableColumnDefinition {
	for _, p := range byType {
		if p.gvk == gvk {
			return p.Columns()
		}
	}
	return defaultPrinter.Columns()
}

// printer turns objects of one Go type into rows under fixed columns.
type printer struct {
	gvk     schema.GroupVersionKind // empty for the default printer
	columns []metav1.TableColumnDefinition
	// row returns the row's cells (one per column) and conditions;
	// Table fills in row.Object.
	row func(obj runtime.Object, now time.Time) (metav1.TableRow, error)
}

// Columns returns a copy of p's column definitions.
func (p *printer) Columns() []metav1.TableColumnDefinition {
	return append([]metav1.TableColumnDefinition(nil), p.columns...)
}

// byType indexes the printers of printers.go's kinds list by the Go type of
// one item (*corev1.Pod, not *corev1.PodList).
var byType = func() map[reflect.Type]*printer {
	m := make(map[reflect.Type]*printer, len(kinds))
	for _, k := range kinds {
		m[k.typ] = k.printer
	}
	return m
}()

// printerFor finds the printer of obj, or of its items when obj is a list.
func printerFor(obj runtime.Object) *printer {
	t := reflect.TypeOf(obj)
	if p, ok := byType[t]; ok {
		return p
	}
	if it := itemType(t); it != nil {
		if p, ok := byType[it]; ok {
			return p
		}
	}
	return defaultPrinter
}

// itemType returns *T for a list type *L whose Items field is a []T, or nil.
// It works on empty lists, which have no item to look at.
func itemType(list reflect.Type) reflect.Type {
	if list == nil || list.Kind() != reflect.Pointer || list.Elem().Kind() != reflect.Struct {
		return nil
	}
	f, ok := list.Elem().FieldByName("Items")
	if !ok || f.Type.Kind() != reflect.Slice || f.Type.Elem().Kind() != reflect.Struct {
		return nil
	}
	return reflect.PointerTo(f.Type.Elem())
}

// rowObject is what rows[].object holds for item under the policy.
//
// Reference: k8s.io/apiserver pkg/endpoints/handlers/response.go, asTable.
func rowObject(item runtime.Object, gvk schema.GroupVersionKind, policy metav1.IncludeObjectPolicy) (runtime.Object, error) {
	switch policy {
	case metav1.IncludeNone:
		return nil, nil
	case metav1.IncludeObject:
		full := item.DeepCopyObject()
		if !gvk.Empty() {
			full.GetObjectKind().SetGroupVersionKind(gvk)
		}
		return full, nil
	default: // IncludeMetadata or ""
		m, err := meta.Accessor(item)
		if err != nil {
			return nil, fmt.Errorf("%w: %T has no metadata", ErrNotAcceptable, item)
		}
		partial := meta.AsPartialObjectMetadata(m).DeepCopy()
		partial.SetGroupVersionKind(partialGVK)
		return partial, nil
	}
}

// objectMetaDoc holds the API documentation of metadata fields; column
// descriptions come from the API types' field docs, as upstream's do.
var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

// nameColumn and ageColumn open and (nearly) close most tables.
var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"]}
)

// defaultPrinter is the apiserver's table for kinds without a printer of
// their own: the name and the creation time as an RFC 3339 date.
//
// Reference: k8s.io/apiserver pkg/registry/rest/table.go, defaultTableConvertor.
var defaultPrinter = &printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
	},
	row: func(obj runtime.Object, _ time.Time) (metav1.TableRow, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return metav1.TableRow{}, fmt.Errorf("%w: %T has no metadata", ErrNotAcceptable, obj)
		}
		return metav1.TableRow{Cells: []interface{}{
			m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339),
		}}, nil
	},
}

// kind is one entry of the kinds list: a Go type and how to print it.
type kind struct {
	typ     reflect.Type
	printer *printer
}

// printerOf declares the printer of the kind whose items have Go type T.
// cells returns one cell per column, in column order.
func printerOf[T runtime.Object](gvk schema.GroupVersionKind, columns []metav1.TableColumnDefinition, cells func(T, time.Time) []interface{}) kind {
	return rowPrinterOf(gvk, columns, func(obj T, now time.Time) (metav1.TableRow, error) {
		return metav1.TableRow{Cells: cells(obj, now)}, nil
	})
}

// rowPrinterOf is printerOf for kinds whose rows carry conditions or whose
// printing can fail.
func rowPrinterOf[T runtime.Object](gvk schema.GroupVersionKind, columns []metav1.TableColumnDefinition, row func(T, time.Time) (metav1.TableRow, error)) kind {
	return kind{
		typ: reflect.TypeFor[T](),
		printer: &printer{
			gvk:     gvk,
			columns: columns,
			row: func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
				return row(obj.(T), now)
			},
		},
	}
}
