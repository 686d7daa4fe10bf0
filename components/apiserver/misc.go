package apiserver

import (
	"fmt"
	"mime"
	"net/http"
	"runtime"
	"sync/atomic"

	kruntime "k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	kprotobuf "k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
)

// strictJSON decodes objects and reports unknown and duplicate fields.
var strictJSON = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kjson.SerializerOptions{Strict: true})

// protobuf decodes bodies sent as application/vnd.kubernetes.protobuf, the
// default of client-go's typed clientsets for built-in kinds.
var protobuf = kprotobuf.NewSerializer(scheme.Scheme, scheme.Scheme)

// decodeInto decodes data, sent with the given Content-Type, into obj.
// JSON (and YAML) bodies are checked strictly: unknown or duplicate fields
// do not fail the decoding; they are returned, one message each, for the
// caller to refuse or warn about as fieldValidation says. Answers are
// always JSON, which every client accepts.
func decodeInto(contentType string, data []byte, obj kruntime.Object) ([]string, error) {
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType == kruntime.ContentTypeProtobuf {
		_, _, err := protobuf.Decode(data, nil, obj)
		return nil, err
	}
	_, _, err := strictJSON.Decode(data, nil, obj)
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
