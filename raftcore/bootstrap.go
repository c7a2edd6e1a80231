package raftcore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/raft"
)

// bootstrapPlan is the pure decision of one bootstrap poll.
type bootstrapPlan struct {
	// formed: a peer belongs to a formed cluster; never bootstrap.
	formed bool
	// ready: exactly Expect eligible pre-bootstrap peers with our Expect.
	ready bool
	// servers is the voter list, sorted by ID (identical on every node).
	servers []raft.Server
	// key identifies the peer set, to check it stays the same for the window.
	key string
	// clusterID is minted from the peers' nonces: every node computes the same.
	clusterID string
	// reason says why not ready; "" when ready.
	reason string
}

// planBootstrap decides, from one view of the peers, whether this node
// (self, expecting expect voters) may bootstrap now. Every node that sees
// the same view makes the same decision and the same voter list.
func planBootstrap(self string, expect int, peers []Peer) bootstrapPlan {
	var pending []Peer
	for _, p := range peers {
		if !p.Alive {
			continue
		}
		if p.ID != self && (p.Bootstrap == BootstrapDone || p.ClusterID != "" || p.Leader != "") {
			return bootstrapPlan{formed: true, reason: fmt.Sprintf(
				"peer %s belongs to a formed cluster (cluster id %q, leader %q); waiting to be added by its leader",
				p.ID, p.ClusterID, p.Leader)}
		}
		if p.Bootstrap == BootstrapPending && p.Eligible {
			pending = append(pending, p)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].ID < pending[j].ID })
	names := make([]string, len(pending))
	for i, p := range pending {
		names[i] = p.ID
		if p.Expect != expect {
			return bootstrapPlan{reason: fmt.Sprintf(
				"mismatched bootstrap_expect: peer %s expects %d, this node expects %d", p.ID, p.Expect, expect)}
		}
		if p.Addr == "" {
			return bootstrapPlan{reason: fmt.Sprintf("peer %s has not advertised its raft address yet", p.ID)}
		}
	}
	switch {
	case len(pending) < expect:
		return bootstrapPlan{reason: fmt.Sprintf("waiting for %d pre-bootstrap peers, see %d: %s",
			expect, len(pending), strings.Join(names, ","))}
	case len(pending) > expect:
		return bootstrapPlan{reason: fmt.Sprintf("more than %d pre-bootstrap peers (%d: %s); refusing to guess which to bootstrap",
			expect, len(pending), strings.Join(names, ","))}
	}
	plan := bootstrapPlan{ready: true}
	keys := make([]string, len(pending))
	nonces := make([]string, len(pending))
	for i, p := range pending {
		plan.servers = append(plan.servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr),
		})
		keys[i] = p.ID + "@" + p.Addr
		nonces[i] = p.ID + "=" + p.Nonce
	}
	plan.key = strings.Join(keys, ",")
	plan.clusterID = mintClusterID(nonces)
	return plan
}

// mintClusterID derives a cluster ID from the members' per-process nonces,
// so that every bootstrapping node computes the same ID and two clusters
// formed from the same names get different ones.
func mintClusterID(parts []string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, ";")))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
