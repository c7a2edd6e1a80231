package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
)

// The gossip keyring's cluster-wide operations are gossip's
// (gossip.Membership.Keyring); these are their names as the API uses them.
type (
	KeyringOp         = gossip.KeyringOp
	KeyringResult     = gossip.KeyringResult
	KeyringNodeResult = gossip.KeyringNodeResult
	KeyringKeySummary = gossip.KeyringKeySummary
)

// The operations.
const (
	KeyringList    = gossip.KeyringList
	KeyringInstall = gossip.KeyringInstall
	KeyringUse     = gossip.KeyringUse
	KeyringRemove  = gossip.KeyringRemove
)

// Keyring applies op to the gossip keyring of every live member (this
// node and every peer alive in its gossip view, over the internode mesh)
// and reports per node; see gossip.Membership.Keyring.
func (n *Node) Keyring(ctx context.Context, op KeyringOp, key string) (KeyringResult, error) {
	return n.ml.Keyring(ctx, op, key, keyringRequester{n.mesh})
}

// keyringRequester carries keyring requests over the mesh's keyring class.
type keyringRequester struct{ mesh *internode.Mesh }

func (r keyringRequester) Request(ctx context.Context, addr string, req []byte) ([]byte, error) {
	resp, err := r.mesh.Request(ctx, addr, internode.ClassKeyring, req)
	var remote *internode.RemoteError
	if errors.As(err, &remote) {
		return nil, fmt.Errorf("%w: %w", gossip.ErrPeerAnswered, remote)
	}
	return resp, err
}
