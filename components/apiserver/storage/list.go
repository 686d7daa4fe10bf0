package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ListOptions says which objects a List returns and from which revision.
// Reference: Kubernetes API concepts, "Resource versions" and "Retrieving
// large results sets in chunks".
type ListOptions struct {
	// Limit is the most items to return (0: all). If more match, the list
	// carries a continue token for the rest.
	Limit int64
	// Continue is the token of the previous page. The next page is read at
	// the same revision as the first, so that pages fit together even
	// when objects change between them. ResourceVersion must then be ""
	// or "0".
	Continue string
	// ResourceVersion and ResourceVersionMatch choose the revision read:
	//
	//	""  (no match)              the latest (a quorum read)
	//	"0" (no match/NotOlderThan) any; tinykube reads the latest too
	//	"N" NotOlderThan, or no match and Limit 0
	//	                            the latest, which must be at least N
	//	"N" Exact, or no match and Limit > 0
	//	                            exactly revision N: 410 Expired once
	//	                            etcd has compacted it
	//
	// A revision newer than etcd's latest gets 504 Timeout with cause
	// ResourceVersionTooLarge at once (Kubernetes' watch cache waits up to
	// 3 s for it first; with one etcd and no cache there is nothing to
	// wait for).
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
	// Predicate, if not nil, keeps only the objects it returns true for:
	// the label and field selectors, built by the caller. It is applied
	// before Limit counts: a page holds up to Limit matching objects.
	Predicate func(runtime.Object) bool
}

// List returns the objects of one namespace, or of all with namespace "",
// as the resource's list type (newList), sorted by key (namespace, then
// name), with metadata.resourceVersion set to the revision read, and
// continue and remainingItemCount set when Limit cut it short
// (remainingItemCount only without a Predicate: with one, the count of
// matches left is unknown without reading them all).
//
// Errors: BadRequest for options that make no sense together or a
// malformed continue token or resourceVersion; 410 Expired when the
// revision asked for (Exact, or a continue token's) has been compacted;
// 504 Timeout when it is newer than etcd's.
func (s *Store) List(ctx context.Context, namespace string, opts ListOptions) (runtime.Object, error) {
	if strings.Contains(namespace, "/") {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: namespace %q may not contain '/'", s.gr, namespace))
	}
	if opts.Limit < 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: limit=%d: want 0 (no limit) or more", s.gr, opts.Limit))
	}
	prefix := s.collectionKey(namespace)
	start, rev, minRev, err := listStart(prefix, opts)
	if err != nil {
		return nil, err
	}
	continuing := opts.Continue != ""
	end := clientv3.GetPrefixRangeEnd(prefix)

	var (
		items     []runtime.Object
		next      string // continue token of the next page
		remaining *int64
	)
	first := true
	for {
		// Read a batch. Without a predicate every key read is returned,
		// so reading Limit keys (one more would not tell us more than
		// etcd's More flag does) makes one round trip. With a predicate,
		// read in batches until Limit match.
		batch := opts.Limit
		if opts.Predicate != nil && batch > 0 && batch < 100 {
			batch = 100
		}
		getOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(batch)}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, start, getOpts...)
		if err != nil {
			return nil, s.listError(err, prefix, continuing, rev, opts)
		}
		if first {
			first = false
			if rev == 0 {
				// Read every later batch at this one's revision.
				rev = resp.Header.Revision
			}
			if minRev > resp.Header.Revision {
				return nil, tooLargeResourceVersion(minRev, resp.Header.Revision)
			}
		}
		for i, kv := range resp.Kvs {
			obj, err := s.decode(string(kv.Key), kv.Value, kv.ModRevision)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			if opts.Predicate != nil && !opts.Predicate(obj) {
				continue
			}
			items = append(items, obj)
			if opts.Limit > 0 && int64(len(items)) == opts.Limit {
				left := resp.Count - int64(i+1) // keys after this one
				if left > 0 {
					// Resume just after this key ("\x00" is the smallest
					// byte), at this revision.
					next, err = encodeContinue(string(kv.Key)+"\x00", prefix, rev)
					if err != nil {
						return nil, apierrors.NewInternalError(err)
					}
					if opts.Predicate == nil {
						remaining = &left
					}
				}
				return s.newListOf(items, rev, next, remaining)
			}
		}
		if !resp.More {
			return s.newListOf(items, rev, "", nil)
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// newListOf builds the resource's list type.
func (s *Store) newListOf(items []runtime.Object, rev int64, next string, remaining *int64) (runtime.Object, error) {
	list := s.newList()
	if err := meta.SetList(list, items); err != nil {
		return nil, fmt.Errorf("storage: %s list: %w", s.gr, err)
	}
	l, err := meta.ListAccessor(list)
	if err != nil {
		return nil, fmt.Errorf("storage: %s list: %w", s.gr, err)
	}
	l.SetResourceVersion(strconv.FormatInt(rev, 10))
	l.SetContinue(next)
	l.SetRemainingItemCount(remaining)
	return list, nil
}

// listStart works out from opts where a List starts reading (start key),
// at which revision (rev; 0 = the latest) and the least revision the
// latest must have reached (minRev).
func listStart(prefix string, opts ListOptions) (start string, rev, minRev int64, err error) {
	if opts.Continue != "" {
		if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
			return "", 0, 0, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
		}
		start, rev, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return "", 0, 0, apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %v; start a new list without it", err))
		}
		if rev < 0 {
			// A token from a 410 Expired answer: go on from the latest.
			rev = 0
		}
		return start, rev, 0, nil
	}
	rv, err := parseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return "", 0, 0, err
	}
	switch opts.ResourceVersionMatch {
	case "":
		switch {
		case rv == 0: // "" or "0": the latest
		case opts.Limit > 0: // "N" with a limit: exactly N
			rev = rv
		default: // "N": at least N
			minRev = rv
		}
	case metav1.ResourceVersionMatchNotOlderThan:
		if opts.ResourceVersion == "" {
			return "", 0, 0, apierrors.NewBadRequest(`resourceVersionMatch "NotOlderThan" needs a resourceVersion; set resourceVersion or drop resourceVersionMatch`)
		}
		minRev = rv
	case metav1.ResourceVersionMatchExact:
		if rv == 0 {
			return "", 0, 0, apierrors.NewBadRequest(fmt.Sprintf(`resourceVersionMatch "Exact" is forbidden for resourceVersion %q; give the revision to read`, opts.ResourceVersion))
		}
		rev = rv
	default:
		return "", 0, 0, apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch %q: want NotOlderThan or Exact", opts.ResourceVersionMatch))
	}
	return prefix, rev, minRev, nil
}

// listError turns an etcd error of a List into the API error a client
// gets.
func (s *Store) listError(err error, prefix string, continuing bool, rev int64, opts ListOptions) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted) && continuing:
		// Reference: Kubernetes' etcd3 store, interpretListError. The
		// answer carries a token to go on inconsistently, from the latest.
		start, _, _ := decodeContinue(opts.Continue, prefix)
		next, _ := encodeContinue(start, prefix, -1)
		e := apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
		e.ErrStatus.ListMeta.Continue = next
		return e
	case errors.Is(err, rpctypes.ErrCompacted):
		return tooOldResourceVersion(rev, 0)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return tooLargeResourceVersion(rev, 0)
	}
	return fmt.Errorf("storage: list %s: %w", prefix, err)
}

// parseResourceVersion reads a resourceVersion parameter: "" and "0" are 0.
func parseResourceVersion(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: want a resourceVersion from an earlier answer, \"0\" or none", rv))
	}
	return n, nil
}

// tooOldResourceVersion is the 410 Expired of a revision etcd compacted
// (compacted, the revision etcd keeps history from, if known, else 0).
// Clients (client-go's reflector) answer it with a new list.
func tooOldResourceVersion(rev, compacted int64) *apierrors.StatusError {
	msg := fmt.Sprintf("too old resource version: %d", rev)
	if compacted > 0 {
		msg = fmt.Sprintf("too old resource version: %d (%d)", rev, compacted)
	}
	return apierrors.NewResourceExpired(msg + "; list again for a current resourceVersion")
}

// tooLargeResourceVersion is Kubernetes' answer to a revision newer than
// the store's: 504 Timeout, retry in 1 s, cause ResourceVersionTooLarge.
// Reference: k8s.io/apiserver/pkg/storage, NewTooLargeResourceVersionError.
func tooLargeResourceVersion(rev, current int64) error {
	msg := fmt.Sprintf("Too large resource version: %d, current: %d", rev, current)
	if current == 0 {
		msg = fmt.Sprintf("Too large resource version: %d", rev)
	}
	err := apierrors.NewTimeoutError(msg, 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// continueToken is what a continue parameter holds, base64 JSON as in
// Kubernetes: the revision of the first page and the key to go on from,
// relative to the listed prefix. RV -1 means "from the latest revision".
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

// encodeContinue makes the token to go on from key at revision rev.
func encodeContinue(key, prefix string, rev int64) (string, error) {
	rel, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", fmt.Errorf("storage: continue key %q is not under %q", key, prefix)
	}
	data, err := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: rel})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(data), nil
}

// decodeContinue reads a token back into the absolute start key and the
// revision.
func decodeContinue(token, prefix string) (start string, rev int64, err error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, fmt.Errorf("not base64: %v", err)
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil {
		return "", 0, fmt.Errorf("not JSON: %v", err)
	}
	if t.APIVersion != "meta.k8s.io/v1" {
		return "", 0, fmt.Errorf("unknown version %q", t.APIVersion)
	}
	if t.ResourceVersion == 0 || t.ResourceVersion < -1 {
		return "", 0, fmt.Errorf("bad resourceVersion %d", t.ResourceVersion)
	}
	// A relative key that would climb out of the prefix ("../secrets/x")
	// is refused: path.Clean leaves only such keys changed.
	if t.StartKey == "" || path.Clean(t.StartKey) != t.StartKey || strings.HasPrefix(t.StartKey, "/") || strings.HasPrefix(t.StartKey, "..") {
		return "", 0, fmt.Errorf("bad start key %q", t.StartKey)
	}
	return prefix + t.StartKey, t.ResourceVersion, nil
}
