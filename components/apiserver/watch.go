package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/tinykube/tinykube/components/apiserver/printers"
	"github.com/tinykube/tinykube/components/apiserver/storage"
)

// watchEvent is one line of a watch stream.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// watch streams changes as newline-separated JSON events, flushed one by
// one, until the client goes, timeoutSeconds passes, or the store ends
// the watch. Reference: KUBECTL-CONTRACT.md, "get -w" and "delete".
func (s *Server) watch(w http.ResponseWriter, r *http.Request, req request) error {
	q := r.URL.Query()
	pred, err := predicate(r, req.resource)
	if err != nil {
		return err
	}
	if req.name != "" { // the old per-object watch path
		name, inner := req.name, pred
		pred = func(obj runtime.Object) bool {
			return req.resource.FieldSet(obj)["metadata.name"] == name && (inner == nil || inner(obj))
		}
	}
	opts := storage.WatchOptions{
		ResourceVersion: q.Get("resourceVersion"),
		AllowBookmarks:  q.Get("allowWatchBookmarks") == "true",
		Predicate:       pred,
	}
	if v := q.Get("sendInitialEvents"); v != "" {
		b := v == "true"
		opts.SendInitialEvents = &b
	}
	ctx := r.Context()
	if t := q.Get("timeoutSeconds"); t != "" {
		if secs, err := strconv.Atoi(t); err == nil && secs > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(secs)*time.Second)
			defer cancel()
		}
	}
	wi, err := s.store(req.resource).Watch(ctx, req.namespace, opts)
	if err != nil {
		return err
	}
	defer wi.Stop()

	table := wantsTable(r)
	contentType := "application/json"
	if table {
		contentType = "application/json;as=Table;v=v1;g=meta.k8s.io"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	first := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return nil
			}
			out := watchEvent{Type: ev.Type, Object: ev.Object}
			switch {
			case ev.Type == watch.Error:
				if st, ok := ev.Object.(*metav1.Status); ok {
					// client-go decodes the event by its kind: 410 Gone
					// must read as a Status to restart an informer's list.
					st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
				}
			case table && ev.Type != watch.Bookmark:
				t, err := printers.Table(ev.Object, tableIncludes(r), s.now())
				if err != nil {
					return nil
				}
				if !first {
					t.ColumnDefinitions = nil // only the first event carries them
				}
				first = false
				out.Object = t
			default:
				setKind(ev.Object, req.resource)
			}
			if err := enc.Encode(&out); err != nil {
				return nil // the client went away
			}
			// Flush when nothing else is waiting: a burst of events (a
			// watch-list's initial objects) goes out in a few large
			// writes, a lone event at once.
			if flusher != nil && len(wi.ResultChan()) == 0 {
				flusher.Flush()
			}
		}
	}
}
