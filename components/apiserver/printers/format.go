package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// since renders how long before now t was, as kubectl's AGE column does
// ("45s", "5m30s", "3h20m", "12d"), or "<unknown>" for an unset time.
func since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// sinceMicro is since for the microsecond timestamps of events.
func sinceMicro(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// containerCells lays the containers of a pod template out on one line each
// for the CONTAINERS and IMAGES columns: "web,sidecar" and "nginx,busybox".
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// selectorCell renders a label selector for a SELECTOR column:
// "app=web,tier in (fe)", or "<none>" when it selects nothing or everything.
func selectorCell(s *metav1.LabelSelector) string {
	return metav1.FormatLabelSelector(s)
}

// boolPtr renders an optional boolean: "True", "False" or "<unset>".
func boolPtr(b *bool) string {
	switch {
	case b == nil:
		return "<unset>"
	case *b:
		return "True"
	default:
		return "False"
	}
}

// quantity renders an optional quantity ("500m", "1Gi", or "<nil>") without
// touching the object it belongs to: Quantity.String caches its result in the
// quantity, which would be a data race on an object shared between readers.
func quantity(q *resource.Quantity) string {
	if q == nil {
		return "<nil>"
	}
	c := q.DeepCopy()
	return c.String()
}

// firstWithMore joins up to max strings with sep, adding
// " + N more..." when there were more.
func firstWithMore(list []string, max int, sep string) string {
	if len(list) <= max {
		return strings.Join(list, sep)
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], sep), len(list)-max)
}

// orNone returns s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
