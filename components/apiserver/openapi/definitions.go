package openapi

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// extensionGVK tags a schema (a list of GVKs) or an operation (one GVK) with
// the kinds it stands for. kubectl finds the schema of a kind by looking for
// it: explain for its fields, create and apply for the PATCH operation whose
// parameters say whether the server validates fields itself.
const extensionGVK = "x-kubernetes-group-version-kind"

// definitions is everything the handler knows about schemas: the generated
// definitions, keyed by model name ("io.k8s.api.core.v1.Pod"), and the kinds
// each model stands for.
type definitions struct {
	scheme *runtime.Scheme
	defs   map[string]common.OpenAPIDefinition
	// gvks lists, per model name, every kind the scheme registers for the
	// model's Go type, sorted by group, version, kind. Most kinds have one;
	// the option types metav1.AddToGroupVersion registers in every group
	// (DeleteOptions, WatchEvent, ...) have one per group-version.
	gvks map[string][]schema.GroupVersionKind
}

// newDefinitions loads the generated definitions and indexes the scheme's
// kinds by model name, as kube-apiserver's DefinitionNamer does
// (k8s.io/apiserver/pkg/endpoints/openapi).
func newDefinitions() (*definitions, error) {
	s, err := newScheme()
	if err != nil {
		return nil, err
	}
	d := &definitions{scheme: s, gvks: map[string][]schema.GroupVersionKind{}}
	for gvk, t := range s.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		name := modelName(t)
		d.gvks[name] = append(d.gvks[name], gvk)
	}
	for _, list := range d.gvks {
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	// Every reference in a generated definition goes through this callback;
	// the names are model names already, so only the JSON pointer is added.
	d.defs = GetOpenAPIDefinitions(func(name string) spec.Ref {
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(name))
	})
	return d, nil
}

// modelName is the schema name of a Go type: what its generated
// OpenAPIModelName method returns ("io.k8s.api.core.v1.Pod").
func modelName(t reflect.Type) string {
	return util.GetCanonicalTypeName(reflect.New(t).Interface())
}

// sample returns a new object of the kind, for the builder to name its
// schema, or an error if there is no schema for it.
func (d *definitions) sample(gvk schema.GroupVersionKind) (runtime.Object, error) {
	obj, err := d.scheme.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("openapi: no Go type for %s: %w", gvk, err)
	}
	if name := util.GetCanonicalTypeName(obj); !d.has(name) {
		return nil, fmt.Errorf("openapi: no schema %q for %s: add its package to the go:generate line in generate.go", name, gvk)
	}
	return obj, nil
}

// has reports whether there is a schema of that model name.
func (d *definitions) has(name string) bool {
	_, ok := d.defs[name]
	return ok
}

// definitionName is the builder's GetDefinitionName: it keeps the model name
// and adds x-kubernetes-group-version-kind to the schemas of kinds.
func (d *definitions) definitionName(name string) (string, spec.Extensions) {
	gvks := d.gvks[name]
	if len(gvks) == 0 {
		return name, nil
	}
	list := make([]any, 0, len(gvks))
	for _, gvk := range gvks {
		list = append(list, gvkExtension(gvk))
	}
	return name, spec.Extensions{extensionGVK: list}
}

// gvkExtension is one GVK as the extension spells it.
func gvkExtension(gvk schema.GroupVersionKind) map[string]any {
	return map[string]any{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}
}

// queryParameters returns one query parameter per simple property of an
// options type's schema: the fields of ListOptions are the query parameters
// of a list, as the real apiserver's route installer derives them from the
// same types. kind and apiVersion, and object-valued fields (DeleteOptions'
// preconditions), are not query parameters.
func (d *definitions) queryParameters(options any) []parameter {
	def := d.defs[util.GetCanonicalTypeName(options)].Schema
	var params []parameter
	for name, prop := range def.Properties {
		if name == "kind" || name == "apiVersion" {
			continue
		}
		description := prop.Description
		if ref := prop.Ref.String(); ref != "" {
			// A named simple type: PodLogOptions' sinceTime is a
			// metav1.Time, a string.
			prop = d.defs[strings.TrimPrefix(ref, "#/components/schemas/")].Schema
		}
		if len(prop.Type) != 1 {
			continue
		}
		typ := prop.Type[0]
		if typ == "array" && prop.Items != nil && prop.Items.Schema != nil && len(prop.Items.Schema.Type) == 1 {
			typ = prop.Items.Schema.Type[0] // dryRun=All: repeated, each a string
		}
		if typ != "string" && typ != "boolean" && typ != "integer" {
			continue
		}
		params = append(params, parameter{name: name, description: description, kind: common.QueryParameterKind, dataType: typ})
	}
	sort.Slice(params, func(i, j int) bool { return params[i].name < params[j].name })
	return params
}
