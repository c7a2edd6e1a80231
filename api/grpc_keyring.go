package api

import (
	"context"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// KeyringNode is what the Keyring service needs of a node: *cluster.Node's
// Keyring. Called concurrently from request goroutines; it blocks until
// every live node answered or its deadline (at most ctx's) passed.
type KeyringNode interface {
	// Keyring applies op (with the base64 key; none for list) to the
	// gossip keyring of every live node and reports per node.
	Keyring(ctx context.Context, op cluster.KeyringOp, key string) (cluster.KeyringResult, error)
}

// keyringService implements conclave.v1.Keyring.
type keyringService struct {
	pb.UnimplementedKeyringServer
	node KeyringNode
}

func (s *keyringService) List(ctx context.Context, _ *pb.KeyringListRequest) (*pb.KeyringResponse, error) {
	return s.do(ctx, cluster.KeyringList, "")
}

func (s *keyringService) Install(ctx context.Context, req *pb.KeyringKeyRequest) (*pb.KeyringResponse, error) {
	return s.do(ctx, cluster.KeyringInstall, req.GetKey())
}

func (s *keyringService) Use(ctx context.Context, req *pb.KeyringKeyRequest) (*pb.KeyringResponse, error) {
	return s.do(ctx, cluster.KeyringUse, req.GetKey())
}

func (s *keyringService) Remove(ctx context.Context, req *pb.KeyringKeyRequest) (*pb.KeyringResponse, error) {
	return s.do(ctx, cluster.KeyringRemove, req.GetKey())
}

func (s *keyringService) do(ctx context.Context, op cluster.KeyringOp, key string) (*pb.KeyringResponse, error) {
	if op != cluster.KeyringList && key == "" {
		return nil, invalidArgument("key", "must not be empty")
	}
	r, err := s.node.Keyring(ctx, op, key)
	if err != nil {
		return nil, statusError(err)
	}
	return keyringToPB(r), nil
}

func keyringToPB(r cluster.KeyringResult) *pb.KeyringResponse {
	out := &pb.KeyringResponse{Failed: int32(r.Failed()), Total: int32(len(r.Nodes))}
	for _, nr := range r.Nodes {
		n := &pb.KeyringNode{Node: nr.Node, Primary: nr.Primary, Keys: nr.Keys}
		if nr.Err != nil {
			n.Error = nr.Err.Error()
		}
		out.Nodes = append(out.Nodes, n)
	}
	for _, k := range r.Keys {
		out.Keys = append(out.Keys, &pb.KeyringKey{Key: k.Key, Nodes: int32(k.Nodes), PrimaryOn: int32(k.PrimaryOn)})
	}
	return out
}
