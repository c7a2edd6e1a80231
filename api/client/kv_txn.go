package client

import (
	"context"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// MaxTxnItems is how many compares and ops one transaction may hold
// together (the server's limit; it also bounds the encoded transaction to
// the size of the largest single write).
const MaxTxnItems = 64

// TxnCompare is a transaction's condition: it holds when Key is at
// Version; Version 0 means "Key is absent".
type TxnCompare struct {
	Key     string
	Version uint64
}

// TxnOp is one write of a transaction: a put of Key, or its delete when
// Delete is set. A key may be written by one op of a transaction only.
type TxnOp struct {
	Key    string
	Value  []byte
	Delete bool
}

// TxnPut is a transaction's put.
func TxnPut(key string, value []byte) TxnOp { return TxnOp{Key: key, Value: value} }

// TxnDelete is a transaction's delete; an absent key is not an error.
func TxnDelete(key string) TxnOp { return TxnOp{Key: key, Delete: true} }

// TxnResult is what a transaction did. When a compare failed, Succeeded is
// false, FailedCompare is its index (from 0) and ActualVersion the version
// its key was at (0: absent), and nothing changed. Otherwise Results has
// one entry per op, in order, and Index is the transaction's Raft index
// (the new version of every key it put).
type TxnResult struct {
	Succeeded     bool
	FailedCompare int
	ActualVersion uint64
	Index         uint64
	Results       []TxnOpResult
}

// TxnOpResult is what one op did: the entry a put stored, or whether a
// delete found its key.
type TxnOpResult struct {
	Entry   KVEntry // a put's
	Delete  bool    // the op was a delete
	Deleted bool    // the delete found the key and removed it
}

// Txn applies ops only if every compare holds, atomically: the server
// writes them in one Raft entry, every op or none. A failed compare is not
// an error: see TxnResult.Succeeded. Over the limits (MaxTxnItems, the
// size of the largest single write, two ops on one key) it is an
// InvalidArgument error and nothing is written.
func (k *KV) Txn(ctx context.Context, compares []TxnCompare, ops []TxnOp) (TxnResult, error) {
	req := &pb.TxnRequest{
		Compares: make([]*pb.TxnCompare, 0, len(compares)),
		Ops:      make([]*pb.TxnOp, 0, len(ops)),
	}
	for _, c := range compares {
		req.Compares = append(req.Compares, &pb.TxnCompare{Key: c.Key, Version: c.Version})
	}
	for _, o := range ops {
		if o.Delete {
			req.Ops = append(req.Ops, &pb.TxnOp{Op: &pb.TxnOp_Delete{Delete: &pb.TxnDelete{Key: o.Key}}})
			continue
		}
		req.Ops = append(req.Ops, &pb.TxnOp{Op: &pb.TxnOp_Put{Put: &pb.TxnPut{Key: o.Key, Value: o.Value}}})
	}
	resp, err := k.c.Txn(ctx, req)
	if err != nil {
		return TxnResult{}, err
	}
	out := TxnResult{
		Succeeded: resp.GetSucceeded(), FailedCompare: int(resp.GetFailedCompare()),
		ActualVersion: resp.GetActualVersion(), Index: resp.GetIndex(),
	}
	for i, r := range resp.GetResults() {
		if r.GetEntry() != nil {
			out.Results = append(out.Results, TxnOpResult{Entry: kvEntryFromPB(r.GetEntry())})
			continue
		}
		res := TxnOpResult{Delete: true, Deleted: r.GetDeleted()}
		if i < len(ops) {
			res.Entry.Key = ops[i].Key
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

// DeletePrefix deletes every key that starts with prefix, in one Raft
// entry, and returns how many it deleted. An empty prefix is an
// InvalidArgument error: deleting every key takes a List and deletes.
func (k *KV) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	resp, err := k.c.DeletePrefix(ctx, &pb.DeletePrefixRequest{Prefix: prefix})
	if err != nil {
		return 0, err
	}
	return int(resp.GetDeleted()), nil
}
