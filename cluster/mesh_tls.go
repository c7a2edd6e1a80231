package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internal/pki"
	"github.com/conclave-dev/conclave/internode"
	"github.com/conclave-dev/conclave/pg"
	"github.com/conclave-dev/conclave/raftcore"
)

// meshTLS loads the node's TLS identity for the internode mesh, or returns
// nil when tls: is not configured (the mesh then runs in clear, which
// config.CheckExposure allows on loopback or with insecure: true). The
// certificate must name this node: a node that would present another
// node's identity refuses to start rather than be refused by every peer.
func meshTLS(cfg config.Config, r *meshResolver) (*internode.TLS, error) {
	if !cfg.TLS.Enabled() {
		return nil, nil
	}
	src, err := pki.Load(pki.Files{CA: cfg.TLS.CAFile, Cert: cfg.TLS.CertFile, Key: cfg.TLS.KeyFile})
	if err != nil {
		return nil, fmt.Errorf("cluster: tls: %w", err)
	}
	cert := src.Certificate()
	if cert == nil {
		return nil, fmt.Errorf("cluster: tls.cert_file and tls.key_file: required for the internode mesh")
	}
	name, err := pki.NodeName(cert.Leaf)
	if err != nil {
		return nil, fmt.Errorf("cluster: tls.cert_file %s: %w (create one with `conclave tls cert create --node %s`)",
			cfg.TLS.CertFile, err, cfg.Cluster.Name)
	}
	if name != cfg.Cluster.Name {
		return nil, fmt.Errorf("cluster: tls.cert_file %s names node %q, but cluster.name is %q",
			cfg.TLS.CertFile, name, cfg.Cluster.Name)
	}
	return &internode.TLS{Node: cfg.Cluster.Name, Certs: src, Resolve: r.resolve}, nil
}

// meshResolver tells the mesh which node listens at an internode address,
// so that a TLS dial verifies the listener's certificate names that node.
// Gossip and Raft are set once built (the mesh is built before them and
// dials only later); until then nothing resolves.
type meshResolver struct {
	ml   atomic.Pointer[gossip.Membership]
	core atomic.Pointer[raftcore.Core]
}

// resolve is internode's TLS.Resolve: the alive gossip member advertising
// addr, else the Raft server at addr (Raft's server ID is the node name;
// it knows peers before gossip does after a restart), else a member of any
// state. Called on every dial, concurrently.
func (r *meshResolver) resolve(addr string) (string, error) {
	var alive, other []string
	if ml := r.ml.Load(); ml != nil {
		for _, m := range ml.Members() {
			if m.Meta.InternodeAddr != addr {
				continue
			}
			if m.State == gossip.StateAlive {
				alive = append(alive, m.Name)
			} else {
				other = append(other, m.Name)
			}
		}
	}
	if len(alive) == 1 {
		return alive[0], nil
	}
	if len(alive) > 1 {
		return "", fmt.Errorf("nodes %s all advertise internode address %s", strings.Join(alive, ", "), addr)
	}
	if core := r.core.Load(); core != nil {
		for _, s := range core.Status().Servers {
			if s.Address == addr {
				return s.ID, nil
			}
		}
	}
	if len(other) == 1 {
		return other[0], nil
	}
	return "", fmt.Errorf("no node known at internode address %s", addr)
}

// groupsSenderCheck wraps the groups handler: under TLS, a process-group
// message must come from the node it names as its sender (pg applies a
// sync or delta to that node's members), so a node cannot rewrite another
// node's memberships.
func (n *Node) groupsSenderCheck(ctx context.Context, req []byte) error {
	peer := internode.PeerNode(ctx)
	if peer == "" {
		return nil // mesh in clear: no verified identity to compare
	}
	sender, err := pg.Sender(req)
	if err != nil {
		return nil // malformed: pg refuses and counts it
	}
	if sender != peer {
		n.impostors.Add(1)
		n.log.Warn().Str("peer_node", peer).Str("claimed", sender).Str("peer", internode.Peer(ctx)).
			Msg("process-group message refused: sender is not the connection's node")
		return fmt.Errorf("%w: message names sender %q, the connection is node %q", ErrInvalidArgument, sender, peer)
	}
	return nil
}
