package admission

import (
	"cmp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Checks shared by every kind. Each kind names its objects by one of the
// "nameFn" rules below; the rest of metadata (namespace, labels,
// annotations, owner references, finalizers) is checked the same way
// everywhere. Reference: pkg/apis/core/validation/validation.go,
// ValidateObjectMeta, and k8s.io/apimachinery/pkg/api/validation.

var (
	metaPath = field.NewPath("metadata")
	specPath = field.NewPath("spec")
)

// Name rules. Most objects are named like DNS subdomains ("web-1.prod");
// some must be a single DNS label ("web-1"), because their name becomes a
// DNS label (a Namespace, a Service) or a hostname prefix.
var (
	nameIsDNSSubdomain = apivalidation.NameIsDNSSubdomain
	nameIsDNSLabel     = apivalidation.NameIsDNSLabel
	nameIsDNS1035Label = apivalidation.NameIsDNS1035Label
)

// pathSegmentName is the rule every name obeys, whatever its kind: it must
// fit in a URL path segment.
func pathSegmentName(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}

// commonMeta runs the metadata checks the generic registry runs for every
// kind, whatever the kind's own rules.
func commonMeta(obj runtime.Object, k *kind) field.ErrorList {
	m, err := meta.Accessor(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(metaPath, err)}
	}
	return apivalidation.ValidateObjectMetaAccessor(m, k.namespaced, pathSegmentName, metaPath)
}

// validateObjectMeta checks a new object's metadata: name required (the
// caller has turned generateName into a name) and valid for the kind,
// namespace set for namespaced kinds and absent for cluster-scoped ones,
// labels, annotations, owner references and finalizers well-formed.
func validateObjectMeta(m *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(m, namespaced, nameFn, metaPath)
	for i, f := range m.Finalizers {
		errs = append(errs, validateKubeFinalizerName(f, metaPath.Child("finalizers").Index(i))...)
	}
	return errs
}

// validateObjectMetaUpdate checks metadata on update: name, namespace, uid
// and creationTimestamp may not change, resourceVersion must be given.
func validateObjectMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, metaPath)
	for i, f := range newMeta.Finalizers {
		errs = append(errs, validateKubeFinalizerName(f, metaPath.Child("finalizers").Index(i))...)
	}
	return errs
}

// A finalizer without a '/' must be one Kubernetes defines.
var standardFinalizers = map[string]bool{
	"kubernetes":                     true,
	metav1.FinalizerOrphanDependents: true,
	metav1.FinalizerDeleteDependents: true,
}

func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// validateFinalizerName checks a Namespace's spec.finalizers entry.
func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	errs := apivalidation.ValidateFinalizerName(name, fldPath)
	return append(errs, validateKubeFinalizerName(name, fldPath)...)
}

// validateAnnotations checks annotation keys and their total size.
func validateAnnotations(a map[string]string, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateAnnotations(a, fldPath)
}

func validateNonnegative(v int64, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(v, fldPath)
}

// validateImmutable reports `field is immutable` when newVal differs from
// oldVal.
func validateImmutable(newVal, oldVal any, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// validateName applies a name rule to a reference (a secret name, a node
// name, ...).
func validateName(nameFn apivalidation.ValidateNameFunc, value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range nameFn(value, false) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// sortedKeys returns a map's keys in order, so that errors come out in the
// same order every time (Kubernetes walks maps in random order).
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
