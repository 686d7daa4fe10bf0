package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Events exist in two API groups, core/v1 and events.k8s.io/v1, stored as
// one resource; both print the same table.

// Event: LAST SEEN TYPE REASON OBJECT MESSAGE, then wide SUBOBJECT SOURCE
// FIRST SEEN COUNT NAME. Unusually, the name is a wide column, and the
// narrow columns are not all first.
var eventColumns = []metav1.TableColumnDefinition{
	{Name: "Last Seen", Type: "string", Description: corev1.Event{}.SwaggerDoc()["lastTimestamp"]},
	{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
	{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
	{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
	{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
	{Name: "Source", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["source"]},
	{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
	{Name: "First Seen", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["firstTimestamp"]},
	{Name: "Count", Type: "string", Priority: 1, Description: corev1.Event{}.SwaggerDoc()["count"]},
	{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: objectMetaDoc["name"]},
}

// eventView is what the event table shows, read from either kind of Event.
type eventView struct {
	name, typ, reason, message    string
	object                        corev1.ObjectReference
	source                        corev1.EventSource
	reportingController, instance string
	first, last                   metav1.Time
	eventTime                     metav1.MicroTime
	count                         int32
	series                        *eventsv1.EventSeries
}

// coreEventCells prints a core/v1 Event.
func coreEventCells(e *corev1.Event, now time.Time) []interface{} {
	v := eventView{
		name: e.Name, typ: e.Type, reason: e.Reason, message: e.Message,
		object: e.InvolvedObject, source: e.Source,
		reportingController: e.ReportingController, instance: e.ReportingInstance,
		first: e.FirstTimestamp, last: e.LastTimestamp, eventTime: e.EventTime, count: e.Count,
	}
	if e.Series != nil {
		v.series = &eventsv1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return eventCells(v, now)
}

// eventsEventCells prints an events.k8s.io/v1 Event, mapping its fields the
// way the apiserver converts it to the stored form: regarding is the
// object, note the message, and the deprecated* fields the old source,
// timestamps and count.
func eventsEventCells(e *eventsv1.Event, now time.Time) []interface{} {
	return eventCells(eventView{
		name: e.Name, typ: e.Type, reason: e.Reason, message: e.Note,
		object: e.Regarding, source: e.DeprecatedSource,
		reportingController: e.ReportingController, instance: e.ReportingInstance,
		first: e.DeprecatedFirstTimestamp, last: e.DeprecatedLastTimestamp, eventTime: e.EventTime,
		count: e.DeprecatedCount, series: e.Series,
	}, now)
}

// eventCells: FIRST SEEN falls back to eventTime and LAST SEEN to FIRST
// SEEN; a series overrides LAST SEEN and COUNT; a singleton event of the new
// API has count 1. OBJECT is "kind/name" in lower-case kind: "pod/web-1".
// SOURCE is "component, host", taken from the reporting controller and
// instance when the old source is empty.
//
// Reference: printers.go, printEvent and formatEventSource.
func eventCells(e eventView, now time.Time) []interface{} {
	first := since(e.first, now)
	if e.first.IsZero() {
		first = sinceMicro(e.eventTime, now)
	}
	last := since(e.last, now)
	if e.last.IsZero() {
		last = first
	}
	count := e.count
	if e.series != nil {
		last = sinceMicro(e.series.LastObservedTime, now)
		count = e.series.Count
	} else if count == 0 {
		count = 1
	}

	object := strings.ToLower(e.object.Kind)
	if e.object.Name != "" {
		object = fmt.Sprintf("%s/%s", object, e.object.Name)
	}

	source := firstNonEmpty(e.source.Component, e.reportingController)
	if host := firstNonEmpty(e.source.Host, e.instance); host != "" {
		source += ", " + host
	}

	return []interface{}{
		last, e.typ, e.reason, object, e.object.FieldPath, source,
		strings.TrimSpace(e.message), first, int64(count), e.name,
	}
}
