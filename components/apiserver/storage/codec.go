package storage

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
)

// DefaultCodec returns the codec tinykube stores objects with: JSON, with
// apiVersion and kind always written, for every type client-go knows
// (k8s.io/client-go/kubernetes/scheme: core/v1, apps/v1, batch/v1, ...).
//
// Encoding writes an object in the first of gv that has its kind, or, with
// no gv or none that fits, in the group/version its Go type is registered
// under (a *corev1.Pod is written as "apiVersion":"v1","kind":"Pod"). The
// object's own TypeMeta is ignored and left as it was.
//
// Decoding fills the object it is given (runtime.Decoder's into) without
// any conversion or defaulting, so what comes out is exactly what was
// stored, apiVersion and kind included.
//
// The codec is safe for concurrent use.
func DefaultCodec(gv ...schema.GroupVersion) runtime.Codec {
	serializer := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, json.SerializerOptions{})
	var versioner runtime.GroupVersioner = ownVersion{}
	if len(gv) > 0 {
		versioner = schema.GroupVersions(gv)
	}
	encoder := runtime.WithVersionEncoder{Version: versioner, Encoder: serializer, ObjectTyper: scheme.Scheme}
	return runtime.NewCodec(encoder, serializer)
}

// ownVersion picks the first group/version/kind a Go type is registered
// under: its own.
type ownVersion struct{}

// KindForGroupVersionKinds returns the first of kinds.
func (ownVersion) KindForGroupVersionKinds(kinds []schema.GroupVersionKind) (schema.GroupVersionKind, bool) {
	if len(kinds) == 0 {
		return schema.GroupVersionKind{}, false
	}
	return kinds[0], true
}

// Identifier names this versioner for codec caches.
func (ownVersion) Identifier() string { return "tinykube-own-version" }
