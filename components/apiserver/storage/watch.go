package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Watch defaults.
const (
	// DefaultBookmarkInterval is how often a watch that allows bookmarks
	// gets one when WatchOptions.BookmarkInterval is 0: about once a
	// minute, as from Kubernetes.
	DefaultBookmarkInterval = time.Minute
	// DefaultSlowConsumerTimeout is how long a watch waits for its
	// consumer to take an event from a full channel, when
	// WatchOptions.SlowConsumerTimeout is 0, before it gives up.
	DefaultSlowConsumerTimeout = 10 * time.Second
	// WatchBufferSize is how many events a watch's channel holds.
	WatchBufferSize = 100
)

// WatchOptions says what a Watch sends. Reference: Kubernetes API
// concepts, "Efficient detection of changes", "Semantics for watch" and
// "Streaming lists".
type WatchOptions struct {
	// ResourceVersion is where the watch starts:
	//
	//	"" or "0"  the current state, sent as ADDED events, then every
	//	           change (unless SendInitialEvents is false: then only
	//	           changes from now on)
	//	"N"        every change after revision N; once etcd has compacted
	//	           N the watch sends one ERROR event, 410 Expired, and ends;
	//	           an N newer than etcd's revision is waited for, as etcd
	//	           does
	ResourceVersion string
	// SendInitialEvents, if set, overrides whether the current state is
	// sent first. When it is true the state is read at the latest
	// revision R (at least ResourceVersion, as resourceVersionMatch
	// NotOlderThan asks), and after it, if AllowBookmarks, comes a
	// BOOKMARK at R annotated k8s.io/initial-events-end: "true" (what
	// kubectl's watch-list waits for); then changes after R.
	// Checking that resourceVersionMatch is NotOlderThan is the caller's.
	SendInitialEvents *bool
	// AllowBookmarks asks for BOOKMARK events: objects of the resource's
	// type with only metadata.resourceVersion (and kind) set, saying that
	// every change up to that revision has been sent. They come about
	// every BookmarkInterval.
	AllowBookmarks bool
	// Predicate, if not nil, keeps only the objects it returns true for
	// (label and field selectors, built by the caller). An object that
	// stops matching is sent as DELETED, one that starts as ADDED.
	Predicate func(runtime.Object) bool
	// Name, if set, watches only the object of that name (fieldSelector
	// metadata.name=x).
	Name string
	// BookmarkInterval is the time between bookmarks; 0 means
	// DefaultBookmarkInterval.
	BookmarkInterval time.Duration
	// SlowConsumerTimeout: if the channel stays full this long, the watch
	// ends (the channel is closed after the events it holds), as Kubernetes
	// ends the watches of unresponsive clients; a client then watches
	// again from the last resourceVersion it saw. 0 means
	// DefaultSlowConsumerTimeout.
	SlowConsumerTimeout time.Duration
}

// Watch sends the changes to the objects of one namespace, or all with
// namespace "", as watch events, in revision order, on a channel of
// WatchBufferSize events. The events:
//
//   - ADDED, MODIFIED: the object as written, resourceVersion set to the
//     write's revision.
//   - DELETED: the object's last state, resourceVersion set to the
//     revision of the delete (or of the update that made it stop matching
//     Predicate).
//   - BOOKMARK: see WatchOptions.AllowBookmarks.
//   - ERROR: a *metav1.Status (410 Expired for a compacted revision, 500
//     if etcd fails); it is the last event.
//
// The watch ends, and its channel is closed, on Stop, when ctx is done,
// after an ERROR event, or when the consumer stalls (SlowConsumerTimeout).
// Stop releases the etcd watch and the goroutine behind it before it
// returns; calling it more than once is fine.
//
// Errors from Watch itself: BadRequest for a malformed ResourceVersion,
// 504 Timeout for one newer than etcd's (with SendInitialEvents), or a
// failure to read the initial state.
func (s *Store) Watch(ctx context.Context, namespace string, opts WatchOptions) (watch.Interface, error) {
	if strings.Contains(namespace, "/") {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: namespace %q may not contain '/'", s.gr, namespace))
	}
	rv, err := parseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	f := filter{store: s, predicate: opts.Predicate, name: opts.Name}
	// The keys watched: the collection's prefix, or, for one object of a
	// namespace, its key alone. (One object of a cluster-scoped resource
	// is watched through the prefix and f: with namespace "" a Store
	// cannot tell a cluster-scoped name from a name in every namespace.)
	prefix, keyOpts := s.collectionKey(namespace), []clientv3.OpOption{clientv3.WithPrefix()}
	if opts.Name != "" {
		if err := s.checkName(namespace, opts.Name); err != nil {
			return nil, err
		}
		if namespace != "" {
			prefix, keyOpts = s.Key(namespace, opts.Name), nil
		}
	}
	w := &watcher{
		store:       s,
		filter:      f,
		bookmarks:   opts.AllowBookmarks,
		interval:    opts.BookmarkInterval,
		slowTimeout: opts.SlowConsumerTimeout,
		result:      make(chan watch.Event, WatchBufferSize),
		done:        make(chan struct{}),
	}
	if w.interval <= 0 {
		w.interval = DefaultBookmarkInterval
	}
	if w.slowTimeout <= 0 {
		w.slowTimeout = DefaultSlowConsumerTimeout
	}

	// Where the etcd watch starts, and what comes before it.
	initial := rv == 0
	if opts.SendInitialEvents != nil {
		initial = *opts.SendInitialEvents
	}
	switch {
	case initial:
		// Read the current state; changes follow from the next revision,
		// so none is lost or sent twice.
		resp, err := s.client.Get(ctx, prefix, keyOpts...)
		if err != nil {
			return nil, fmt.Errorf("storage: watch %s: read the initial state: %w", prefix, err)
		}
		if rv > resp.Header.Revision {
			return nil, tooLargeResourceVersion(rv, resp.Header.Revision)
		}
		for _, kv := range resp.Kvs {
			obj, err := s.decode(string(kv.Key), kv.Value, kv.ModRevision)
			if err != nil {
				return nil, err
			}
			if f.matches(obj) {
				w.initial = append(w.initial, watch.Event{Type: watch.Added, Object: obj})
			}
		}
		w.startRev = resp.Header.Revision
		w.initialEnd = opts.SendInitialEvents != nil && opts.AllowBookmarks
	case rv == 0:
		// sendInitialEvents=false: only what changes from now on.
		resp, err := s.client.Get(ctx, prefix, append(keyOpts, clientv3.WithCountOnly())...)
		if err != nil {
			return nil, fmt.Errorf("storage: watch %s: %w", prefix, err)
		}
		w.startRev = resp.Header.Revision
	default:
		w.startRev = rv
	}

	// RequireLeader: a member cut off from its cluster ends the watch
	// instead of going silent.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	w.ctx, w.cancel = wctx, cancel
	w.events = s.client.Watch(wctx, prefix, append(keyOpts, clientv3.WithRev(w.startRev+1), clientv3.WithPrevKV())...)
	go w.run()
	return w, nil
}

// watcher is one Watch: a goroutine turning etcd's watch responses into
// watch events.
type watcher struct {
	store       *Store
	filter      filter
	bookmarks   bool
	interval    time.Duration
	slowTimeout time.Duration

	initial    []watch.Event // the current state, sent first
	initialEnd bool          // then the initial-events-end bookmark
	startRev   int64         // the revision the state was read at; changes after it follow

	ctx    context.Context
	cancel context.CancelFunc
	events clientv3.WatchChan
	result chan watch.Event
	done   chan struct{}
	once   sync.Once
}

var _ watch.Interface = (*watcher)(nil)

// ResultChan is the channel of events; it is closed when the watch ends.
func (w *watcher) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch and waits until its etcd watch and goroutine are
// released.
func (w *watcher) Stop() {
	w.once.Do(w.cancel)
	<-w.done
}

// run sends the initial state, then translates etcd's responses until the
// watch ends.
func (w *watcher) run() {
	defer close(w.done)
	defer close(w.result)
	defer w.cancel()

	for _, ev := range w.initial {
		if !w.send(ev) {
			return
		}
	}
	w.initial = nil
	last := w.startRev // every change up to last has been sent
	if w.initialEnd {
		if !w.send(watch.Event{Type: watch.Bookmark, Object: w.bookmark(last, true)}) {
			return
		}
	}

	// Bookmarks: every interval, ask etcd for a progress notification,
	// which comes on the watch stream after every event up to its
	// revision: a revision the client can safely resume from.
	var tick <-chan time.Time
	if w.bookmarks {
		t := time.NewTicker(w.interval)
		defer t.Stop()
		tick = t.C
	}
	asked := false

	for {
		select {
		case <-w.ctx.Done():
			return
		case <-tick:
			// An error here (the stream is being rebuilt) only delays
			// this bookmark to the next tick. (Should our etcd watch end
			// just before this call, the client opens an idle stream for
			// it; the client keeps at most one, and reuses it for the
			// next watch.)
			if err := w.store.client.RequestProgress(w.ctx); err == nil {
				asked = true
			}
		case resp, ok := <-w.events:
			if !ok || w.ctx.Err() != nil {
				return
			}
			switch {
			case resp.CompactRevision != 0:
				// Reference: Kubernetes API concepts, "410 Gone responses".
				w.send(watch.Event{Type: watch.Error, Object: &tooOldResourceVersion(w.startRev, resp.CompactRevision).ErrStatus})
				return
			case resp.Err() != nil:
				err := apierrors.NewInternalError(fmt.Errorf("etcd watch of %s: %w", w.store.gr, resp.Err()))
				w.send(watch.Event{Type: watch.Error, Object: &err.ErrStatus})
				return
			case resp.IsProgressNotify():
				// Notifications asked for by other watches on the same
				// etcd stream come here too; send one bookmark per ask.
				if asked {
					asked = false
					last = max(last, resp.Header.Revision)
					if !w.send(watch.Event{Type: watch.Bookmark, Object: w.bookmark(last, false)}) {
						return
					}
				}
				continue
			}
			for _, e := range resp.Events {
				ev, ok, err := w.filter.translate(e)
				if err != nil {
					st := apierrors.NewInternalError(err)
					w.send(watch.Event{Type: watch.Error, Object: &st.ErrStatus})
					return
				}
				last = e.Kv.ModRevision
				if ok && !w.send(ev) {
					return
				}
			}
		}
	}
}

// send puts ev on the channel. If the channel is full it waits for the
// consumer, at most slowTimeout. It returns false if the watch must end.
func (w *watcher) send(ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-w.ctx.Done():
		return false
	default:
	}
	timer := time.NewTimer(w.slowTimeout)
	defer timer.Stop()
	select {
	case w.result <- ev:
		return true
	case <-w.ctx.Done():
		return false
	case <-timer.C:
		return false // the consumer stalled: end the watch
	}
}

// bookmark makes a bookmark object: an empty object of the resource with
// only kind and resourceVersion, and the initial-events-end annotation
// if initialEnd.
func (w *watcher) bookmark(rev int64, initialEnd bool) runtime.Object {
	obj := w.store.newObj()
	obj.GetObjectKind().SetGroupVersionKind(w.store.gvk)
	m, err := meta.Accessor(obj)
	if err == nil {
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
		if initialEnd {
			m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		}
	}
	return obj
}

// filter decides which changes a watch sends, and as what.
type filter struct {
	store     *Store
	predicate func(runtime.Object) bool
	name      string
}

// matches says whether a watch with this filter wants obj.
func (f filter) matches(obj runtime.Object) bool {
	if f.name != "" {
		m, err := meta.Accessor(obj)
		if err != nil || m.GetName() != f.name {
			return false
		}
	}
	return f.predicate == nil || f.predicate(obj)
}

// translate turns one etcd event into the watch event a client sees, if
// any (ok false: none). It does no I/O. Reference: Kubernetes API
// concepts, "Watch" with selectors; k8s.io/apiserver's cacheWatcher:
//
//	etcd event          old matched  new matches  watch event
//	PUT, new key        -            yes          ADDED (new)
//	PUT                 yes          yes          MODIFIED (new)
//	PUT                 no           yes          ADDED (new)
//	PUT                 yes          no           DELETED (old, at the PUT's revision)
//	DELETE              yes          -            DELETED (old, at the DELETE's revision)
func (f filter) translate(e *clientv3.Event) (ev watch.Event, ok bool, err error) {
	key, rev := string(e.Kv.Key), e.Kv.ModRevision
	old := func() (runtime.Object, error) {
		if e.PrevKv == nil {
			return nil, fmt.Errorf("storage: watch event at revision %d for %s has no previous value", rev, key)
		}
		return f.store.decode(key, e.PrevKv.Value, rev)
	}
	if e.Type == clientv3.EventTypeDelete {
		obj, err := old()
		if err != nil {
			return ev, false, err
		}
		return watch.Event{Type: watch.Deleted, Object: obj}, f.matches(obj), nil
	}
	cur, err := f.store.decode(key, e.Kv.Value, rev)
	if err != nil {
		return ev, false, err
	}
	curMatches := f.matches(cur)
	if e.IsCreate() {
		return watch.Event{Type: watch.Added, Object: cur}, curMatches, nil
	}
	if f.name == "" && f.predicate == nil {
		return watch.Event{Type: watch.Modified, Object: cur}, true, nil
	}
	prev, err := old()
	if err != nil {
		return ev, false, err
	}
	prevMatched := f.matches(prev)
	switch {
	case curMatches && prevMatched:
		return watch.Event{Type: watch.Modified, Object: cur}, true, nil
	case curMatches:
		return watch.Event{Type: watch.Added, Object: cur}, true, nil
	case prevMatched:
		return watch.Event{Type: watch.Deleted, Object: prev}, true, nil
	}
	return ev, false, nil
}
