package cluster

import (
	"context"

	"github.com/conclave-dev/conclave/internode"
)

// Test hooks for the integration tests of package cluster_test.

// KeyringRawRequest sends req as-is to the ClassKeyring handler at addr.
func (n *Node) KeyringRawRequest(ctx context.Context, addr string, req []byte) error {
	_, err := n.mesh.Request(ctx, addr, internode.ClassKeyring, req)
	return err
}

// KeyringMalformed is the count of undecodable keyring requests.
func (n *Node) KeyringMalformed() uint64 { return n.ml.KeyringMalformed() }
