package api

import (
	"context"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// KVNode is what the KV service and the /v1/kv endpoints need of a node:
// the methods of its key-value service (*kv.Service, Node.KV).
type KVNode interface {
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
}

// kvService implements conclave.v1.KV. It validates what the node cannot
// see (enum values, field combinations) and the empty key, which is
// unambiguous; the rest of key syntax is the node's to judge.
type kvService struct {
	pb.UnimplementedKVServer
	node KVNode
}

func (s *kvService) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	if req.GetKey() == "" {
		return nil, invalidArgument("key", "must not be empty")
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
	var (
		e   cluster.KVEntry
		err error
	)
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
