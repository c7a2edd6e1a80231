package client

import (
	"context"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

func (f *fakeAgent) DeletePrefix(_ context.Context, req *pb.DeletePrefixRequest) (*pb.DeletePrefixResponse, error) {
	if req.GetPrefix() == "" {
		return nil, status.Error(codes.InvalidArgument, "prefix: must not be empty")
	}
	return &pb.DeletePrefixResponse{Deleted: uint64(len(req.GetPrefix()))}, nil
}

// Txn fails its compare when the first compare's version is 1, and
// otherwise echoes the ops as results at index 12.
func (f *fakeAgent) Txn(_ context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if cs := req.GetCompares(); len(cs) > 0 && cs[0].GetVersion() == 1 {
		return &pb.TxnResponse{FailedCompare: 0, ActualVersion: 3}, nil
	}
	resp := &pb.TxnResponse{Succeeded: true, Index: 12}
	for _, o := range req.GetOps() {
		if p := o.GetPut(); p != nil {
			resp.Results = append(resp.Results, &pb.TxnOpResult{Entry: &pb.KVEntry{Key: p.GetKey(), Value: p.GetValue(), Version: 12, CreateIndex: 12}})
			continue
		}
		resp.Results = append(resp.Results, &pb.TxnOpResult{Deleted: o.GetDelete().GetKey() == "exists"})
	}
	return resp, nil
}

func TestKVTxnAndDeletePrefix(t *testing.T) {
	_, c := startAgent(t)
	kv := c.KV()
	r, err := kv.Txn(ctx(t), []TxnCompare{{Key: "a", Version: 4}},
		[]TxnOp{TxnPut("a", []byte("x")), TxnDelete("exists"), TxnDelete("gone")})
	want := TxnResult{Succeeded: true, Index: 12, Results: []TxnOpResult{
		{Entry: KVEntry{Key: "a", Value: []byte("x"), Version: 12, CreateIndex: 12}},
		{Entry: KVEntry{Key: "exists"}, Delete: true, Deleted: true},
		{Entry: KVEntry{Key: "gone"}, Delete: true},
	}}
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Fatalf("Txn = %+v, %v\nwant %+v", r, err, want)
	}
	r, err = kv.Txn(ctx(t), []TxnCompare{{Key: "a", Version: 1}}, []TxnOp{TxnPut("a", nil)})
	if err != nil || r.Succeeded || r.FailedCompare != 0 || r.ActualVersion != 3 {
		t.Fatalf("failed Txn = %+v, %v", r, err)
	}
	if n, err := kv.DeletePrefix(ctx(t), "app/"); err != nil || n != 4 {
		t.Fatalf("DeletePrefix = %d, %v", n, err)
	}
	if _, err := kv.DeletePrefix(ctx(t), ""); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("DeletePrefix(\"\"): %v, want InvalidArgument", err)
	}
}
