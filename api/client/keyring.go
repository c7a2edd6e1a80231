package client

import (
	"context"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Keyring changes the gossip encryption keyring of every live node through
// the agent (the Keyring service). Rotate a key with Install, Use, then
// Remove of the old key; each is idempotent, so a step that failed on some
// node is completed by running it again. A malformed key fails
// InvalidArgument; encryption off, Use of a key the agent has not
// installed, and Remove of the agent's primary key fail FailedPrecondition
// (IsNotHolder's code), and nothing changes on any node then.
type Keyring struct{ c pb.KeyringClient }

// KeyringNode is one node's outcome.
type KeyringNode struct {
	Node string
	// Error is what failed on the node ("" when applied), including not
	// answering within the agent's deadline.
	Error string
	// Primary and Keys are the node's keyring after the operation (base64,
	// primary first); empty when Error is set.
	Primary string
	Keys    []string
}

// KeyringKey counts one key over the nodes that answered.
type KeyringKey struct {
	Key string
	// Nodes have it installed; PrimaryOn use it as their primary.
	Nodes, PrimaryOn int
}

// KeyringResult is the outcome of one operation on every live node.
type KeyringResult struct {
	Nodes []KeyringNode // by node name
	Keys  []KeyringKey  // by key
	// Failed counts the nodes whose Error is set; Total those asked.
	Failed, Total int
}

// List returns every live node's keyring.
func (k *Keyring) List(ctx context.Context) (KeyringResult, error) {
	return keyringFromPB(k.c.List(ctx, &pb.KeyringListRequest{}))
}

// Install adds key (standard base64 of 16, 24 or 32 bytes) to every
// keyring as a secondary key.
func (k *Keyring) Install(ctx context.Context, key string) (KeyringResult, error) {
	return keyringFromPB(k.c.Install(ctx, &pb.KeyringKeyRequest{Key: key}))
}

// Use makes the installed key every node's primary key.
func (k *Keyring) Use(ctx context.Context, key string) (KeyringResult, error) {
	return keyringFromPB(k.c.Use(ctx, &pb.KeyringKeyRequest{Key: key}))
}

// Remove removes key, which must be no node's primary, from every keyring.
func (k *Keyring) Remove(ctx context.Context, key string) (KeyringResult, error) {
	return keyringFromPB(k.c.Remove(ctx, &pb.KeyringKeyRequest{Key: key}))
}

func keyringFromPB(resp *pb.KeyringResponse, err error) (KeyringResult, error) {
	if err != nil {
		return KeyringResult{}, err
	}
	r := KeyringResult{Failed: int(resp.GetFailed()), Total: int(resp.GetTotal())}
	for _, n := range resp.GetNodes() {
		r.Nodes = append(r.Nodes, KeyringNode{Node: n.GetNode(), Error: n.GetError(), Primary: n.GetPrimary(), Keys: n.GetKeys()})
	}
	for _, k := range resp.GetKeys() {
		r.Keys = append(r.Keys, KeyringKey{Key: k.GetKey(), Nodes: int(k.GetNodes()), PrimaryOn: int(k.GetPrimaryOn())})
	}
	return r, nil
}
