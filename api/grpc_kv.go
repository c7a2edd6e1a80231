package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/kv"
)

// KVNode is what the KV service and the /v1/kv endpoints need of a node:
// the methods of its key-value service (*kv.Service, Node.KV).
type KVNode interface {
	// Watch is a blocking query over prefix: it answers when a key there
	// is written past index after (at once for 0) or wait has passed,
	// with the keys and the index to wait from next.
	Watch(ctx context.Context, prefix string, after uint64, wait time.Duration) ([]cluster.KVEntry, uint64, error)
	// Get reads key in mode; blocks for a leader round unless stale.
	Get(ctx context.Context, key string, mode cluster.ReadMode) (cluster.KVEntry, error)
	// List lists keys with prefix in key order, at most limit (0 = all).
	List(ctx context.Context, prefix string, limit int, mode cluster.ReadMode) ([]cluster.KVEntry, error)
	// Put writes unconditionally; blocks until committed. value is the
	// request's buffer, which the node may keep (the handler never reuses it).
	Put(ctx context.Context, key string, value []byte) (cluster.KVEntry, error)
	// CompareAndSet writes only at version (0 = only if absent); blocks
	// until committed. Same buffer rule as Put.
	CompareAndSet(ctx context.Context, key string, value []byte, version uint64) (cluster.KVEntry, error)
	// Delete deletes key, only at version when version > 0; blocks until
	// committed.
	Delete(ctx context.Context, key string, version uint64) error
	// DeletePrefix deletes every key with a non-empty prefix in one entry
	// and returns how many; blocks until committed.
	DeletePrefix(ctx context.Context, prefix string) (int, error)
	// Txn applies ops only if every compare holds, in one entry; a failed
	// compare is a result, not an error. Blocks until committed. Values
	// follow Put's buffer rule.
	Txn(ctx context.Context, compares []kv.Compare, ops []kv.Op) (kv.TxnResult, error)
}

// EventualKVNode is what the eventual store's requests (store
// STORE_EVENTUAL, ?store=eventual) need of a node: its eventual KV store
// (*kv.EventualService, Node.EventualKV). It answers from the serving node
// with or without a quorum.
type EventualKVNode interface {
	Get(ctx context.Context, key string) (kv.EventualEntry, error)
	List(ctx context.Context, prefix string, limit int) ([]kv.EventualEntry, error)
	// Put writes key here and gossips it. value is the request's buffer,
	// which the node may keep.
	Put(ctx context.Context, key string, value []byte) (kv.EventualEntry, error)
	// Delete deletes key here and gossips the tombstone; NotFound when
	// this node holds no value for it.
	Delete(ctx context.Context, key string) error
}

// kvService implements conclave.v1.KV. It validates what the node cannot
// see (enum values, field combinations) and the empty key, which is
// unambiguous; the rest of key syntax is the node's to judge.
type kvService struct {
	pb.UnimplementedKVServer
	node  KVNode
	ekv   EventualKVNode // nil: the eventual store is not served
	guard *guard         // nil: no ACLs (the API's own tests)
}

// eventual reports whether a request asks for the eventual store, and
// refuses a store this server does not know or does not serve.
func (s *kvService) eventual(st pb.Store) (bool, error) {
	switch st {
	case pb.Store_STORE_RAFT:
		return false, nil
	case pb.Store_STORE_EVENTUAL:
		if s.ekv == nil {
			return false, status.Error(codes.Unimplemented, "store: the eventual store is not served here")
		}
		return true, nil
	default:
		return false, invalidArgument("store", "unknown store %d", int32(st))
	}
}

// eventualMode refuses a read mode the eventual store cannot honour: it
// reads the serving node's copy, which is what stale means.
func eventualMode(m pb.ReadMode) error {
	if m != pb.ReadMode_READ_MODE_DEFAULT && m != pb.ReadMode_READ_MODE_STALE {
		return invalidArgument("mode", "the eventual store reads the serving node's copy; only the default or stale mode applies")
	}
	return nil
}

func (s *kvService) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	if req.GetKey() == "" {
		return nil, invalidArgument("key", "must not be empty")
	}
	ev, err := s.eventual(req.GetStore())
	if err != nil {
		return nil, err
	}
	if ev {
		if err := eventualMode(req.GetMode()); err != nil {
			return nil, err
		}
		e, err := s.ekv.Get(ctx, req.GetKey())
		if err != nil {
			return nil, statusError(err)
		}
		return &pb.GetResponse{Entry: eventualEntryToPB(e)}, nil
	}
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	e, err := s.node.Get(ctx, req.GetKey(), mode)
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.GetResponse{Entry: kvEntryToPB(e)}, nil
}

func (s *kvService) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	if req.GetKey() == "" {
		return nil, invalidArgument("key", "must not be empty")
	}
	ev, err := s.eventual(req.GetStore())
	if err != nil {
		return nil, err
	}
	if ev {
		if req.CasVersion != nil {
			return nil, invalidArgument("cas_version", "the eventual store has no compare-and-set")
		}
		e, err := s.ekv.Put(ctx, req.GetKey(), req.GetValue())
		if err != nil {
			return nil, statusError(err)
		}
		return &pb.PutResponse{Entry: eventualEntryToPB(e)}, nil
	}
	var e cluster.KVEntry
	if req.CasVersion != nil {
		e, err = s.node.CompareAndSet(ctx, req.GetKey(), req.GetValue(), req.GetCasVersion())
	} else {
		e, err = s.node.Put(ctx, req.GetKey(), req.GetValue())
	}
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.PutResponse{Entry: kvEntryToPB(e)}, nil
}

func (s *kvService) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	if req.GetKey() == "" {
		return nil, invalidArgument("key", "must not be empty")
	}
	ev, err := s.eventual(req.GetStore())
	if err != nil {
		return nil, err
	}
	if ev {
		if req.CasVersion != nil {
			return nil, invalidArgument("cas_version", "the eventual store has no conditional delete")
		}
		if err := s.ekv.Delete(ctx, req.GetKey()); err != nil {
			return nil, statusError(err)
		}
		return &pb.DeleteResponse{}, nil
	}
	// The node reads version 0 as "unconditional"; a client that set the
	// field asked for a condition, and "delete only if absent" is not one.
	if req.CasVersion != nil && req.GetCasVersion() == 0 {
		return nil, invalidArgument("cas_version", "must be > 0 when set (omit it for an unconditional delete)")
	}
	if err := s.node.Delete(ctx, req.GetKey(), req.GetCasVersion()); err != nil {
		return nil, statusError(err)
	}
	return &pb.DeleteResponse{}, nil
}

func (s *kvService) List(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	ev, err := s.eventual(req.GetStore())
	if err != nil {
		return nil, err
	}
	if ev {
		if err := eventualMode(req.GetMode()); err != nil {
			return nil, err
		}
		entries, err := s.ekv.List(ctx, req.GetPrefix(), int(req.GetLimit()))
		if err != nil {
			return nil, statusError(err)
		}
		resp := &pb.ListResponse{Entries: make([]*pb.KVEntry, 0, len(entries))}
		for _, e := range entries {
			if mayRead(ctx, acl.ResKV, e.Key) {
				resp.Entries = append(resp.Entries, eventualEntryToPB(e))
			}
		}
		return resp, nil
	}
	mode, err := readMode(req.GetMode())
	if err != nil {
		return nil, err
	}
	entries, err := s.node.List(ctx, req.GetPrefix(), int(req.GetLimit()), mode)
	if err != nil {
		return nil, statusError(err)
	}
	resp := &pb.ListResponse{Entries: make([]*pb.KVEntry, 0, len(entries))}
	for _, e := range entries {
		if !mayRead(ctx, acl.ResKV, e.Key) {
			continue
		}
		resp.Entries = append(resp.Entries, kvEntryToPB(e))
	}
	return resp, nil
}

func (s *kvService) DeletePrefix(ctx context.Context, req *pb.DeletePrefixRequest) (*pb.DeletePrefixResponse, error) {
	if req.GetPrefix() == "" {
		return nil, invalidArgument("prefix", "must not be empty: a prefix delete of every key is refused")
	}
	if err := checkPrefixDelete(ctx, s.guard, pb.KV_DeletePrefix_FullMethodName, req.GetPrefix()); err != nil {
		return nil, err
	}
	n, err := s.node.DeletePrefix(ctx, req.GetPrefix())
	if err != nil {
		return nil, statusError(err)
	}
	return &pb.DeletePrefixResponse{Deleted: uint64(n)}, nil
}

// checkPrefixDelete refuses a prefix delete, when ACLs are on, unless the
// caller may write every key the prefix covers, now or later: the guard
// checked write on the prefix itself, but a longer rule may deny or only
// allow reading a part of it ("kv app/ write" with "kv app/secret/ read"),
// and the delete would take those keys too. The check reads the rules, not
// the keys, so a key created there meanwhile is covered as well.
func checkPrefixDelete(ctx context.Context, g *guard, what, prefix string) error {
	a := authzFrom(ctx)
	if !a.Enforcing() {
		return nil
	}
	if ok, blocked := a.AllowedPrefix(acl.ResKV, prefix, acl.Write); !ok {
		return g.streamCheck(ctx, what, []need{{res: acl.ResKV, name: blocked, access: acl.Write}})
	}
	return nil
}

// watchWait is how long one turn of a Watch stream waits before it sends
// the keys again unchanged (a keepalive of sorts).
const watchWait = 5 * time.Minute

// Watch sends the keys with the prefix at once and then at every change
// there, until the client goes or the server stops.
func (s *kvService) Watch(req *pb.WatchRequest, stream pb.KV_WatchServer) error {
	ctx := stream.Context()
	if err := s.guard.streamCheck(ctx, pb.KV_Watch_FullMethodName, listing(acl.ResKV, req.GetPrefix())); err != nil {
		return err
	}
	after := req.GetAfterIndex()
	for {
		es, index, err := s.node.Watch(ctx, req.GetPrefix(), after, watchWait)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the client went
			}
			return statusError(err)
		}
		resp := &pb.WatchResponse{Index: index, Entries: make([]*pb.KVEntry, 0, len(es))}
		for _, e := range es {
			if mayRead(ctx, acl.ResKV, e.Key) {
				resp.Entries = append(resp.Entries, kvEntryToPB(e))
			}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		after = index
	}
}

func (s *kvService) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	compares, ops, err := txnFromPB(req)
	if err != nil {
		return nil, err
	}
	r, err := s.node.Txn(ctx, compares, ops)
	if err != nil {
		return nil, statusError(err)
	}
	resp := &pb.TxnResponse{Succeeded: r.Succeeded, Index: r.Index}
	if !r.Succeeded {
		resp.FailedCompare, resp.ActualVersion = uint32(r.Failed), r.Actual
		return resp, nil
	}
	resp.Results = make([]*pb.TxnOpResult, 0, len(r.Results))
	for _, o := range r.Results {
		if o.Delete {
			resp.Results = append(resp.Results, &pb.TxnOpResult{Deleted: o.Deleted})
			continue
		}
		resp.Results = append(resp.Results, &pb.TxnOpResult{Entry: kvEntryToPB(o.Entry)})
	}
	return resp, nil
}

// txnFromPB reads a transaction's compares and ops; an op that is neither
// a put nor a delete (a newer client's kind, or none) is refused.
func txnFromPB(req *pb.TxnRequest) ([]kv.Compare, []kv.Op, error) {
	compares := make([]kv.Compare, 0, len(req.GetCompares()))
	for _, c := range req.GetCompares() {
		compares = append(compares, kv.Compare{Key: c.GetKey(), Version: c.GetVersion()})
	}
	ops := make([]kv.Op, 0, len(req.GetOps()))
	for i, o := range req.GetOps() {
		switch op := o.GetOp().(type) {
		case *pb.TxnOp_Put:
			ops = append(ops, kv.PutOp(op.Put.GetKey(), op.Put.GetValue()))
		case *pb.TxnOp_Delete:
			ops = append(ops, kv.DeleteOp(op.Delete.GetKey()))
		default:
			return nil, nil, invalidArgument(fmt.Sprintf("ops[%d]", i), "must be a put or a delete")
		}
	}
	return compares, ops, nil
}

// txnNeeds is what a transaction needs: read on every compared key (a
// failed compare tells the key's version) and write on every op's key. An
// empty one still needs a token: no needs at all would make it an open
// call.
func txnNeeds(req *pb.TxnRequest) []need {
	var ns []need
	for _, c := range req.GetCompares() {
		ns = append(ns, need{res: acl.ResKV, name: c.GetKey(), access: acl.Read})
	}
	for _, o := range req.GetOps() {
		key := o.GetPut().GetKey()
		if d := o.GetDelete(); d != nil {
			key = d.GetKey()
		}
		ns = append(ns, need{res: acl.ResKV, name: key, access: acl.Write})
	}
	if len(ns) == 0 {
		return authenticated
	}
	return ns
}

// readMode maps the wire enum; proto3 enums are open, so a newer client may
// send a value this server does not know, and reading in another mode than
// asked would silently weaken (or strengthen) the guarantee.
func readMode(m pb.ReadMode) (cluster.ReadMode, error) {
	switch m {
	case pb.ReadMode_READ_MODE_DEFAULT:
		return cluster.ReadDefault, nil
	case pb.ReadMode_READ_MODE_STALE:
		return cluster.ReadStale, nil
	case pb.ReadMode_READ_MODE_CONSISTENT:
		return cluster.ReadConsistent, nil
	default:
		return 0, invalidArgument("mode", "unknown read mode %d", int32(m))
	}
}

func kvEntryToPB(e cluster.KVEntry) *pb.KVEntry {
	return &pb.KVEntry{Key: e.Key, Value: e.Value, Version: e.Version, CreateIndex: e.CreateIndex}
}

func eventualEntryToPB(e kv.EventualEntry) *pb.KVEntry {
	return &pb.KVEntry{Key: e.Key, Value: e.Value,
		Clock: &pb.EventualClock{WallNs: e.Clock.Wall, Logical: e.Clock.Logical, Origin: e.Origin}}
}
