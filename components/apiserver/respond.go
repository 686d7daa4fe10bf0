package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// writeJSON answers with obj as JSON.
func writeJSON(w http.ResponseWriter, code int, obj any) {
	writeJSONType(w, code, "application/json", obj)
}

func writeJSONType(w http.ResponseWriter, code int, contentType string, obj any) {
	data, err := json.Marshal(obj)
	if err != nil {
		code, data = http.StatusInternalServerError, []byte(fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"code":500}`, err.Error()))
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	w.Write(data)
	w.Write([]byte("\n"))
}

// writeError answers with the Status of err: its own for an API error, an
// InternalError otherwise. Every failure a client sees is a Status.
func writeError(w http.ResponseWriter, err error) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		status = apierrors.NewInternalError(err)
	}
	st := status.Status()
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	st.Status = metav1.StatusFailure
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, &st)
}

// statusError builds an API error of any code with a message.
func statusError(code int, reason metav1.StatusReason, msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg,
	}}
}

func badRequest(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

// setKind fills in apiVersion and kind, which objects read from storage or
// decoded into Go types do not carry.
func setKind(obj runtime.Object, r *Resource) {
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
}
