package quota

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Arithmetic on ResourceLists. None changes its arguments; each returns
// a new list. Reference: k8s.io/apiserver/pkg/quota/v1/resources.go.

// add returns a + b, resource by resource.
func add(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for n, q := range a {
		out[n] = q.DeepCopy()
	}
	for n, q := range b {
		if sum, ok := out[n]; ok {
			sum.Add(q) // sum is out's own copy
			out[n] = sum
		} else {
			out[n] = q.DeepCopy()
		}
	}
	return out
}

// subtractNonNegative returns a - b, each resource at least 0: what an
// update adds to usage (never a refund: that is the controller's job).
func subtractNonNegative(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for n, q := range a {
		d := q.DeepCopy()
		if other, ok := b[n]; ok {
			d.Sub(other)
		}
		if d.Sign() < 0 {
			d = resource.Quantity{Format: q.Format}
		}
		out[n] = d
	}
	return out
}

// maxOf returns the larger of a and b, resource by resource.
func maxOf(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for n, q := range a {
		out[n] = q.DeepCopy()
	}
	for n, q := range b {
		if cur, ok := out[n]; !ok || q.Cmp(cur) > 0 {
			out[n] = q.DeepCopy()
		}
	}
	return out
}

// mask keeps only the resources named.
func mask(list corev1.ResourceList, names []corev1.ResourceName) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, n := range names {
		if q, ok := list[n]; ok {
			out[n] = q.DeepCopy()
		}
	}
	return out
}

// removeZeros drops the resources of value 0.
func removeZeros(list corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for n, q := range list {
		if !q.IsZero() {
			out[n] = q
		}
	}
	return out
}

// negative returns the resources below 0.
func negative(list corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for n, q := range list {
		if q.Sign() < 0 {
			out = append(out, n)
		}
	}
	return out
}

// lessThanOrEqual reports whether a <= b for every resource in both, and
// which resources are over.
func lessThanOrEqual(a, b corev1.ResourceList) (bool, []corev1.ResourceName) {
	var over []corev1.ResourceName
	for n, q := range a {
		if limit, ok := b[n]; ok && q.Cmp(limit) > 0 {
			over = append(over, n)
		}
	}
	return len(over) == 0, over
}

// Equal reports whether two lists hold the same resources at the same
// values (1000m equals 1).
func Equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for n, q := range a {
		other, ok := b[n]
		if !ok || q.Cmp(other) != 0 {
			return false
		}
	}
	return true
}

func resourceNames(list corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(list))
	for n := range list {
		out = append(out, n)
	}
	return out
}

// prettyPrint writes a list as Kubernetes' quota messages do: sorted,
// "limits.memory=1Gi,pods=2".
func prettyPrint(list corev1.ResourceList) string {
	var parts []string
	for _, n := range sortedNames(list) {
		q := list[n]
		parts = append(parts, string(n)+"="+q.String())
	}
	return strings.Join(parts, ",")
}

// prettyPrintNames writes resource names sorted, comma-separated.
func prettyPrintNames(names []corev1.ResourceName) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}
