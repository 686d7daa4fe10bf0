package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"runtime"
	"sync/atomic"
	"unicode"

	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	kprotobuf "k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
)

// strictJSON decodes objects and reports unknown and duplicate fields;
// strictYAML does the same for bodies sent as application/yaml.
var (
	strictJSON = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Strict: true})
	strictYAML = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
)

// protobuf decodes bodies sent as application/vnd.kubernetes.protobuf, the
// default of client-go's typed clientsets for built-in kinds.
var protobuf = kprotobuf.NewSerializer(scheme.Scheme, scheme.Scheme)

// decodeInto decodes data, sent with the given Content-Type, into obj.
// JSON (and YAML) bodies are checked strictly: unknown or duplicate fields
// do not fail the decoding; they are returned, one message each, for the
// caller to refuse or warn about as fieldValidation says. Answers are
// always JSON, which every client accepts.
//
// Data of another kind or version than obj (a Service sent to pods) is an
// error: the decoders would fill a new object of that kind and leave obj
// empty.
func decodeInto(contentType string, data []byte, obj kruntime.Object) ([]string, error) {
	decoder := strictJSON
	switch mediaType, _, _ := mime.ParseMediaType(contentType); mediaType {
	case kruntime.ContentTypeProtobuf:
		out, actual, err := protobuf.Decode(data, nil, obj)
		if err == nil {
			err = sameKind(obj, out, actual)
		}
		return nil, err
	case kruntime.ContentTypeYAML:
		decoder = strictYAML
	default:
		if err := checkJSONObject(data); err != nil {
			return nil, err
		}
	}
	out, actual, err := decoder.Decode(data, nil, obj)
	if kindErr := sameKind(obj, out, actual); kindErr != nil {
		return nil, kindErr
	}
	if err == nil {
		return nil, nil
	}
	if strict, ok := kruntime.AsStrictDecodingError(err); ok {
		var msgs []string
		for _, e := range strict.Errors() {
			msgs = append(msgs, e.Error())
		}
		return msgs, nil
	}
	return nil, err
}

// checkJSONObject explains the two bodies the JSON decoder has the least
// helpful words for: JSON that is not an object, and YAML sent as JSON
// (curl --data-binary @pod.yaml). Anything else it leaves to the decoder.
func checkJSONObject(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] == '{' {
		return nil
	}
	start := data[:min(len(data), 24)]
	switch {
	case json.Valid(data):
		return fmt.Errorf(`the body is JSON but not an object (it starts with %q); send one object, {"apiVersion": ..., "kind": ..., ...}`, start)
	case data[0] == '#' || bytes.HasPrefix(data, []byte("---")) || unicode.IsLetter(rune(data[0])):
		return fmt.Errorf("the body is not JSON (it starts with %q); send JSON, or YAML with Content-Type: application/yaml", start)
	}
	return nil
}

// sameKind checks that a decoder filled obj, and not a new object of the
// kind the data named (actual). The messages are Kubernetes' (its codec's
// and its create handler's).
func sameKind(obj, out kruntime.Object, actual *schema.GroupVersionKind) error {
	if out == nil || out == obj || actual == nil {
		return nil
	}
	want := schema.GroupVersionKind{}
	if kinds, _, err := scheme.Scheme.ObjectKinds(obj); err == nil && len(kinds) > 0 {
		want = kinds[0]
	}
	if actual.Kind != want.Kind {
		return fmt.Errorf("the kind in the data (%s) does not match the expected kind (%s)", actual.Kind, want.Kind)
	}
	return fmt.Errorf("the API version in the data (%s) does not match the expected API version (%s)", actual.GroupVersion(), want.GroupVersion())
}

// randomSuffix is what generateName gets appended, as Kubernetes makes it.
func randomSuffix() string { return utilrand.String(5) }

func goVersion() string { return runtime.Version() }
func platform() string  { return runtime.GOOS + "/" + runtime.GOARCH }

// requests counts requests for /metrics.
var requests atomic.Int64

// serveMetrics answers /metrics in Prometheus' text format.
func (s *Server) serveMetrics(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP apiserver_request_total Requests served.\n# TYPE apiserver_request_total counter\napiserver_request_total %d\n", requests.Load())
}
