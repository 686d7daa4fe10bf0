package main

import (
	"context"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/api/v3/version"
	"google.golang.org/grpc"
)

// server answers etcd's v3 gRPC API from a store: the thin edge around the
// pure core. Every RPC it does not define answers codes.Unimplemented, from
// the embedded Unimplemented servers.
type server struct {
	pb.UnimplementedKVServer
	pb.UnimplementedWatchServer
	pb.UnimplementedLeaseServer
	pb.UnimplementedClusterServer
	pb.UnimplementedMaintenanceServer

	store    *store
	member   *pb.Member    // this, the only member, for MemberList
	stopping chan struct{} // closed when the server stops: watch streams end
}

// register serves s's services on g.
func (s *server) register(g *grpc.Server) {
	pb.RegisterKVServer(g, s)
	pb.RegisterWatchServer(g, s)
	pb.RegisterLeaseServer(g, s)
	pb.RegisterClusterServer(g, s)
	pb.RegisterMaintenanceServer(g, s)
}

// Range reads keys: etcdctl get.
func (s *server) Range(_ context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	return s.store.Range(r)
}

// Put writes a key: etcdctl put.
func (s *server) Put(_ context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	return s.store.Put(r)
}

// DeleteRange deletes keys: etcdctl del.
func (s *server) DeleteRange(_ context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return s.store.DeleteRange(r)
}

// Txn runs a transaction: etcdctl txn.
func (s *server) Txn(_ context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	return s.store.Txn(r)
}

// Compact forgets old history: etcdctl compaction.
func (s *server) Compact(_ context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	return s.store.Compact(r)
}

// LeaseGrant grants a lease that never expires: etcdctl lease grant.
func (s *server) LeaseGrant(_ context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	return s.store.Grant(r)
}

// MemberList lists the one member: etcdctl member list.
func (s *server) MemberList(context.Context, *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	return &pb.MemberListResponse{Header: s.store.Header(), Members: []*pb.Member{s.member}}, nil
}

// Alarm reports no alarms, ever: memetcd has no disk to fill or corrupt.
// etcdctl endpoint health asks.
func (s *server) Alarm(context.Context, *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	return &pb.AlarmResponse{Header: s.store.Header()}, nil
}

// pageSize is added to the sizes Status reports: a real etcd's database
// file is never empty, and etcdctl endpoint status divides by its size.
const pageSize = 4096

// Status reports on the member: etcdctl endpoint status. Version is the
// version of etcd's API that memetcd speaks; the "database" is the memory
// the keys and their history take; the raft index is the revision, as if
// each write were one raft entry.
func (s *server) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	h, live, all := s.store.Sizes()
	return &pb.StatusResponse{
		Header: h, Version: version.Version, Leader: memberID, RaftTerm: raftTerm,
		DbSize: all + pageSize, DbSizeInUse: live + pageSize,
		RaftIndex: uint64(h.Revision), RaftAppliedIndex: uint64(h.Revision),
	}, nil
}

// noWatchID (clientv3.InvalidWatchID) is the watch ID of a response about
// no single watcher: a progress report for all, or a refused create.
const noWatchID = -1

// Watch serves one Watch stream: etcdctl watch. A client creates and
// cancels watchers on the stream; one loop sends, in order, the replies to
// those requests and each watcher's events, whenever the store's revision
// advances. Events come from the store's history, so a watcher that starts
// at an old revision first gets what it missed. Progress notifications come
// only when asked for (RequestProgress), never on a timer.
func (s *server) Watch(stream pb.Watch_WatchServer) error {
	ctx := stream.Context()
	reqs, recvErr := make(chan *pb.WatchRequest), make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()

	watchers := map[int64]*watcher{}
	var nextID int64                // watch IDs count up from 0 on each stream
	var replies []*pb.WatchResponse // to requests, sent before any event that follows them
	progress := false               // a progress request waits for this round's events
	for {
		changed := s.store.Changes() // taken before Poll, so no revision is missed
		events, h := s.store.Poll(watchers)
		out := append(replies, events...)
		if progress {
			// Every event up to h.Revision is in out: a watch cache may
			// now take h.Revision as seen.
			out = append(out, &pb.WatchResponse{Header: h, WatchId: noWatchID})
		}
		replies, progress = nil, false
		for _, resp := range out {
			if resp.Canceled {
				delete(watchers, resp.WatchId)
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
		}

		select {
		case <-changed:
		case <-s.stopping:
			return rpctypes.ErrGRPCStopped
		case <-ctx.Done():
			return ctx.Err()
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case r := <-reqs:
			switch r := r.RequestUnion.(type) {
			case *pb.WatchRequest_CreateRequest:
				replies = append(replies, s.create(watchers, &nextID, r.CreateRequest))
			case *pb.WatchRequest_CancelRequest:
				if _, ok := watchers[r.CancelRequest.WatchId]; ok {
					delete(watchers, r.CancelRequest.WatchId)
					replies = append(replies, &pb.WatchResponse{Header: s.store.Header(), WatchId: r.CancelRequest.WatchId, Canceled: true})
				}
			case *pb.WatchRequest_ProgressRequest:
				progress = true
			}
		}
	}
}

// create adds a watcher to ws and returns etcd's "created" reply. Without a
// start revision a watcher starts after the revision in that reply.
func (s *server) create(ws map[int64]*watcher, nextID *int64, r *pb.WatchCreateRequest) *pb.WatchResponse {
	h := s.store.Header()
	if r.StartRevision < 0 {
		return &pb.WatchResponse{Header: h, WatchId: noWatchID, Created: true, Canceled: true,
			CancelReason: rpctypes.ErrCompacted.Error()}
	}
	id := *nextID // memetcd always chooses the ID; etcd lets a client choose
	*nextID++
	w := &watcher{id: id, key: r.Key, end: r.RangeEnd, next: r.StartRevision, prevKV: r.PrevKv}
	if len(w.key) == 0 {
		w.key = []byte{0} // the smallest key
	}
	if w.next == 0 {
		w.next = h.Revision + 1
	}
	for _, f := range r.Filters {
		w.noPut = w.noPut || f == pb.WatchCreateRequest_NOPUT
		w.noDelete = w.noDelete || f == pb.WatchCreateRequest_NODELETE
	}
	ws[id] = w
	return &pb.WatchResponse{Header: h, WatchId: id, Created: true}
}
