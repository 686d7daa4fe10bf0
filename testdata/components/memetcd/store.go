package main

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"sort"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The IDs memetcd puts in every response header. A real etcd derives them
// from member names and URLs; one member alone can use constants ("memetcd"
// and "tinykube" in ASCII).
const (
	memberID  = 0x6d656d65746364
	clusterID = 0x74696e796b756265
	raftTerm  = 1 // there are no elections: the one member leads term 1
)

// store is etcd's data model held in memory: the pure core of memetcd, with
// no I/O. Each method takes the lock, so each is atomic.
//
// Every change is a transaction. A transaction that writes takes the next
// revision of the store's single counter; each key it writes records that
// revision as its mod_revision, bumps its version, and keeps the
// create_revision of the write that created it. Every change is also
// appended to the history as a PUT or DELETE event that remembers the key's
// previous value. Watchers read the history from a revision on; reads at an
// older revision undo it, newest first. Compact forgets its beginning.
//
// A stored KeyValue is never modified (a put stores a new one), so
// responses share them with the store.
type store struct {
	mu        sync.Mutex
	rev       int64                       // the current revision: 1 when empty, as in etcd
	compacted int64                       // reads and watches before this revision fail
	kvs       map[string]*mvccpb.KeyValue // the live keys
	history   []*mvccpb.Event             // the changes since compacted, oldest first; PrevKv always set if the key existed
	leases    map[int64]int64             // granted lease ID → TTL in seconds; they never expire
	changed   chan struct{}               // closed, and replaced, when rev advances
}

func newStore() *store {
	return &store{
		rev:     1,
		kvs:     map[string]*mvccpb.KeyValue{},
		leases:  map[int64]int64{},
		changed: make(chan struct{}),
	}
}

// Header is the response header at the current revision.
func (s *store) Header() *pb.ResponseHeader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header()
}

func (s *store) header() *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: clusterID, MemberId: memberID, Revision: s.rev, RaftTerm: raftTerm}
}

// Changes returns a channel that is closed when the revision next advances.
func (s *store) Changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Range, Put and DeleteRange are one-op transactions, as they are in etcd.

// Range reads keys.
func (s *store) Range(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	op, h, err := s.one(&pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: r}})
	if err != nil {
		return nil, err
	}
	op.GetResponseRange().Header = h
	return op.GetResponseRange(), nil
}

// Put writes one key.
func (s *store) Put(r *pb.PutRequest) (*pb.PutResponse, error) {
	op, h, err := s.one(&pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: r}})
	if err != nil {
		return nil, err
	}
	op.GetResponsePut().Header = h
	return op.GetResponsePut(), nil
}

// DeleteRange deletes keys.
func (s *store) DeleteRange(r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	op, h, err := s.one(&pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r}})
	if err != nil {
		return nil, err
	}
	op.GetResponseDeleteRange().Header = h
	return op.GetResponseDeleteRange(), nil
}

// one runs op as a transaction of its own.
func (s *store) one(op *pb.RequestOp) (*pb.ResponseOp, *pb.ResponseHeader, error) {
	resp, err := s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{op}})
	if err != nil {
		return nil, nil, err
	}
	return resp.Responses[0], resp.Header, nil
}

// Txn runs etcd's If/Then/Else: if every compare holds, the success ops,
// else the failure ops, in order, each seeing the writes of those before it.
// The ops are checked before any runs, so a transaction applies whole or
// fails with etcd's error and changes nothing. All its writes share one new
// revision; a transaction that writes nothing leaves the revision as it was.
//
// The Kubernetes apiserver writes this way: "if mod_revision of the key is
// still what I read, put my new value, else get the key" (optimistic
// concurrency).
func (s *store) Txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	succeeded := true
	for _, c := range r.Compare {
		succeeded = succeeded && s.holds(c)
	}
	ops := r.Failure
	if succeeded {
		ops = r.Success
	}
	if err := s.check(ops); err != nil {
		return nil, err
	}
	before := len(s.history)
	resp := &pb.TxnResponse{Succeeded: succeeded}
	for _, op := range ops {
		resp.Responses = append(resp.Responses, s.apply(op, s.rev+1))
	}
	if len(s.history) > before {
		s.rev++
		close(s.changed) // wake every watch stream
		s.changed = make(chan struct{})
	}
	resp.Header = s.header()
	return resp, nil
}

// holds evaluates one compare of a transaction. Over a range it must hold
// for every key; a missing key compares as all zeros, except that a value
// compare on a missing key fails, as in etcd.
func (s *store) holds(c *pb.Compare) bool {
	kvs := between(s.kvs, c.Key, c.RangeEnd)
	if len(kvs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		kvs = []*mvccpb.KeyValue{{}}
	}
	for _, kv := range kvs {
		var r int
		switch c.Target {
		case pb.Compare_VERSION:
			r = cmp.Compare(kv.Version, c.GetVersion())
		case pb.Compare_CREATE:
			r = cmp.Compare(kv.CreateRevision, c.GetCreateRevision())
		case pb.Compare_MOD:
			r = cmp.Compare(kv.ModRevision, c.GetModRevision())
		case pb.Compare_VALUE:
			r = bytes.Compare(kv.Value, c.GetValue())
		case pb.Compare_LEASE:
			r = cmp.Compare(kv.Lease, c.GetLease())
		}
		if !wanted(c.Result, r) {
			return false
		}
	}
	return true
}

// wanted reports whether r, the sign of a comparison, is the result a
// compare asks for.
func wanted(result pb.Compare_CompareResult, r int) bool {
	switch result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	}
	return false
}

// check returns the error etcd would refuse ops with, if any.
func (s *store) check(ops []*pb.RequestOp) error {
	put := map[string]bool{} // keys put so far: a transaction puts a key once
	for _, op := range ops {
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			switch g := r.RequestRange; {
			case len(g.Key) == 0:
				return rpctypes.ErrGRPCEmptyKey
			case g.Revision > s.rev:
				return rpctypes.ErrGRPCFutureRev
			case g.Revision > 0 && g.Revision < s.compacted:
				return rpctypes.ErrGRPCCompacted
			case g.SortOrder != pb.RangeRequest_NONE || g.MinModRevision != 0 || g.MaxModRevision != 0 ||
				g.MinCreateRevision != 0 || g.MaxCreateRevision != 0:
				return status.Error(codes.Unimplemented, "memetcd: sorted and filtered reads are not supported")
			}
		case *pb.RequestOp_RequestPut:
			p := r.RequestPut
			switch {
			case len(p.Key) == 0:
				return rpctypes.ErrGRPCEmptyKey
			case put[string(p.Key)]:
				return rpctypes.ErrGRPCDuplicateKey
			case p.Lease != 0 && s.leases[p.Lease] == 0:
				return rpctypes.ErrGRPCLeaseNotFound
			case p.IgnoreValue || p.IgnoreLease:
				return status.Error(codes.Unimplemented, "memetcd: ignore_value and ignore_lease are not supported")
			}
			put[string(p.Key)] = true
		case *pb.RequestOp_RequestDeleteRange:
			if len(r.RequestDeleteRange.Key) == 0 {
				return rpctypes.ErrGRPCEmptyKey
			}
		case *pb.RequestOp_RequestTxn:
			return status.Error(codes.Unimplemented, "memetcd: nested transactions are not supported")
		default:
			return status.Error(codes.InvalidArgument, "memetcd: a transaction op without a request")
		}
	}
	return nil
}

// apply runs one checked op; a write takes revision rev.
func (s *store) apply(op *pb.RequestOp, rev int64) *pb.ResponseOp {
	switch r := op.Request.(type) {
	case *pb.RequestOp_RequestRange:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: s.read(r.RequestRange)}}
	case *pb.RequestOp_RequestPut:
		return &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: s.put(r.RequestPut, rev)}}
	}
	d := s.deleteRange(op.GetRequestDeleteRange(), rev)
	return &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: d}}
}

// read answers a read at the request's revision, or the current one.
func (s *store) read(r *pb.RangeRequest) *pb.RangeResponse {
	kvs := s.kvs
	if r.Revision > 0 {
		kvs = s.at(r.Revision)
	}
	found := between(kvs, r.Key, r.RangeEnd)
	resp := &pb.RangeResponse{Count: int64(len(found))}
	if r.CountOnly {
		return resp
	}
	if r.Limit > 0 && int64(len(found)) > r.Limit {
		found, resp.More = found[:r.Limit], true
	}
	for _, kv := range found {
		if r.KeysOnly {
			kv = &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision,
				ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
		}
		resp.Kvs = append(resp.Kvs, kv)
	}
	return resp
}

// at returns the keys as they were at revision rev, undoing the history
// after it, newest change first.
func (s *store) at(rev int64) map[string]*mvccpb.KeyValue {
	after := s.history[s.since(rev+1):]
	if len(after) == 0 {
		return s.kvs
	}
	kvs := maps.Clone(s.kvs)
	for _, ev := range slices.Backward(after) {
		if ev.PrevKv == nil {
			delete(kvs, string(ev.Kv.Key))
		} else {
			kvs[string(ev.Kv.Key)] = ev.PrevKv
		}
	}
	return kvs
}

// put writes a key at revision rev.
func (s *store) put(r *pb.PutRequest, rev int64) *pb.PutResponse {
	prev := s.kvs[string(r.Key)]
	kv := &mvccpb.KeyValue{Key: r.Key, Value: r.Value, Lease: r.Lease, CreateRevision: rev, ModRevision: rev, Version: 1}
	if prev != nil {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	s.record(&mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv, PrevKv: prev})
	resp := &pb.PutResponse{}
	if r.PrevKv {
		resp.PrevKv = prev
	}
	return resp
}

// deleteRange deletes keys at revision rev.
func (s *store) deleteRange(r *pb.DeleteRangeRequest, rev int64) *pb.DeleteRangeResponse {
	resp := &pb.DeleteRangeResponse{}
	for _, kv := range between(s.kvs, r.Key, r.RangeEnd) {
		// A DELETE event's kv holds only the key and the revision of its deletion.
		s.record(&mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: kv.Key, ModRevision: rev}, PrevKv: kv})
		resp.Deleted++
		if r.PrevKv {
			resp.PrevKvs = append(resp.PrevKvs, kv)
		}
	}
	return resp
}

// record applies an event to the live keys and appends it to the history.
func (s *store) record(ev *mvccpb.Event) {
	if ev.Type == mvccpb.Event_DELETE {
		delete(s.kvs, string(ev.Kv.Key))
	} else {
		s.kvs[string(ev.Kv.Key)] = ev.Kv
	}
	s.history = append(s.history, ev)
}

// since returns the index of the first event in the history at or after
// revision rev.
func (s *store) since(rev int64) int {
	return sort.Search(len(s.history), func(i int) bool { return s.history[i].Kv.ModRevision >= rev })
}

// Compact forgets the history before revision rev. Reads at an older
// revision, and watches starting before it, then fail with ErrCompacted.
func (s *store) Compact(r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Revision > s.rev:
		return nil, rpctypes.ErrGRPCFutureRev
	case r.Revision <= s.compacted:
		return nil, rpctypes.ErrGRPCCompacted
	}
	s.compacted = r.Revision
	s.history = slices.Clone(s.history[s.since(r.Revision):])
	return &pb.CompactionResponse{Header: s.header()}, nil
}

// Grant records a lease. memetcd never expires leases: keys put with one
// live until they are deleted.
func (s *store) Grant(r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.ID
	if id == 0 { // the server chooses: a free ID, counting up
		id = int64(len(s.leases)) + 1
		for s.leases[id] != 0 {
			id++
		}
	}
	if s.leases[id] != 0 {
		return nil, rpctypes.ErrGRPCLeaseExist
	}
	s.leases[id] = max(r.TTL, 1)
	return &pb.LeaseGrantResponse{Header: s.header(), ID: id, TTL: s.leases[id]}, nil
}

// Sizes returns the header and roughly how many bytes the live keys, and
// the live keys with the history, take.
func (s *store) Sizes() (h *pb.ResponseHeader, live, all int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := func(kv *mvccpb.KeyValue) int64 { return int64(len(kv.Key) + len(kv.Value)) }
	for _, kv := range s.kvs {
		live += size(kv)
	}
	all = live
	for _, ev := range s.history {
		all += size(ev.Kv)
	}
	return s.header(), live, all
}

// watcher is one watch of a Watch stream: a key range and a cursor into
// the history.
type watcher struct {
	id       int64
	key, end []byte // the range, as in a read
	next     int64  // the first revision not yet sent
	prevKV   bool   // send each event's previous value too
	noPut    bool
	noDelete bool
}

// Poll returns, for each watcher, the events it has not been sent yet, up
// to the current revision, and moves its cursor past them. A watcher whose
// cursor is before a compaction gets a response with CompactRevision set
// and Canceled: the caller drops it. The header returned says how far the
// watchers are now.
func (s *store) Poll(ws map[int64]*watcher) ([]*pb.WatchResponse, *pb.ResponseHeader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.header()
	var out []*pb.WatchResponse
	for _, w := range ws {
		if w.next < s.compacted {
			out = append(out, &pb.WatchResponse{Header: h, WatchId: w.id, CompactRevision: s.compacted,
				Canceled: true, CancelReason: rpctypes.ErrCompacted.Error()})
			continue
		}
		var evs []*mvccpb.Event
		for _, ev := range s.history[s.since(w.next):] {
			switch {
			case !inRange(ev.Kv.Key, w.key, w.end),
				w.noPut && ev.Type == mvccpb.Event_PUT,
				w.noDelete && ev.Type == mvccpb.Event_DELETE:
				// not for this watcher
			case w.prevKV:
				evs = append(evs, ev)
			default:
				evs = append(evs, &mvccpb.Event{Type: ev.Type, Kv: ev.Kv})
			}
		}
		w.next = max(w.next, s.rev+1)
		if len(evs) > 0 {
			out = append(out, &pb.WatchResponse{Header: h, WatchId: w.id, Events: evs})
		}
	}
	return out, h
}

// between returns the keys of kvs in a range, sorted, as etcd reads a key
// and a range_end.
func between(kvs map[string]*mvccpb.KeyValue, key, end []byte) []*mvccpb.KeyValue {
	if len(end) == 0 {
		if kv := kvs[string(key)]; kv != nil {
			return []*mvccpb.KeyValue{kv}
		}
		return nil
	}
	var found []*mvccpb.KeyValue
	for _, kv := range kvs {
		if inRange(kv.Key, key, end) {
			found = append(found, kv)
		}
	}
	slices.SortFunc(found, func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Key, b.Key) })
	return found
}

// inRange reports whether k is in etcd's range of key and end: with no end
// just key; with end "\x00" every key from key on ("--from-key", and with key
// "\x00" too, every key); else [key, end). A prefix p is the range [p, p+1).
func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(k, key) >= 0
	}
	return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
}
