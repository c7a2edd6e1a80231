package gossip

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// guardPeer is the cluster-ID guard (DESIGN §5): a peer advertising a
// cluster ID that differs from ours is refused, as long as both are known. A
// node with no ID yet (pre-bootstrap, or a fresh node joining) accepts
// anyone, and anyone accepts it: that is how a new node joins a formed
// cluster. Undecodable meta is not refused here (the view marks it invalid).
// count says whether this refusal is counted on its own (alive messages) or
// as part of one refused merge.
func (m *Membership) guardPeer(n *memberlist.Node, count bool) error {
	if n.Name == m.cfg.Name {
		return nil
	}
	ours := m.localClusterID()
	if ours == "" {
		return nil
	}
	meta, err := DecodeMeta(n.Meta)
	if err != nil || meta.ClusterID == "" || meta.ClusterID == ours {
		return nil
	}
	if count {
		m.counters.rejectedForeign.Add(1)
	}
	if m.limiter.allow("foreign/" + n.Name) {
		m.log.Warn().Str("peer", n.Name).Str("addr", n.Address()).
			Str("cluster_id", ours).Str("peer_cluster_id", meta.ClusterID).
			Msg("refusing peer of another cluster")
	}
	return fmt.Errorf("%w: %s has cluster id %q, ours is %q", ErrForeignCluster, n.Name, meta.ClusterID, ours)
}

func (m *Membership) localClusterID() string {
	m.metaMu.RLock()
	defer m.metaMu.RUnlock()
	return m.meta.ClusterID
}

// rateLimiter lets one log line per key through per window, so a peer that
// gossips the same problem many times a second is reported, not spammed.
type rateLimiter struct {
	mu     sync.Mutex
	window time.Duration
	last   map[string]time.Time
}

// maxLimiterKeys bounds the memory a stream of bogus peer names can take.
const maxLimiterKeys = 1024

func newRateLimiter(window time.Duration) *rateLimiter {
	return &rateLimiter{window: window, last: make(map[string]time.Time)}
}

func (r *rateLimiter) allow(key string) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < r.window {
		return false
	}
	if len(r.last) >= maxLimiterKeys {
		for k, t := range r.last {
			if now.Sub(t) >= r.window {
				delete(r.last, k)
			}
		}
		if len(r.last) >= maxLimiterKeys {
			return false // flooded: stay quiet rather than grow
		}
	}
	r.last[key] = now
	return true
}
