package locks

import (
	"context"
	"errors"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// contactState tracks this node's contact with the Raft core for
// CheckContact.
type contactState struct {
	last     time.Time // last known contact
	lastPing time.Time
	// told holds the grants whose sessions were told lock_at_risk and not
	// yet lock_safe or lock_lost.
	told map[toldKey]uint64
}

type toldKey struct{ pid, name string }

// CheckContact tells sessions that hold locks when this node has lost
// contact with the Raft core (and, once it is back, whether each lock is
// still theirs): their locks may be released by the leader if this node
// is declared gone meanwhile. The node's duty loop calls it every round;
// on a client node it may block up to AtRiskAfter/2 asking the leader.
func (s *Service) CheckContact(ctx context.Context) {
	s.contactMu.Lock()
	defer s.contactMu.Unlock()
	c := &s.contact
	holders := s.holders()
	now := s.clock.Now()
	if c.told == nil {
		c.told = map[toldKey]uint64{}
	}
	if len(holders) == 0 {
		c.last = now
		clear(c.told)
		return
	}
	st := s.core.Status()
	switch {
	case st.Leader:
		c.last = now
	case st.Member:
		if st.LeaderKnown && st.LastContact < s.cfg.AtRiskAfter {
			c.last = now
		}
	case now.Sub(c.lastPing) >= s.cfg.AtRiskAfter/4:
		// A client node has no heartbeat: ask the leader.
		c.lastPing = now
		pctx, cancel := context.WithTimeout(ctx, s.cfg.AtRiskAfter/2)
		if err := s.core.Ping(pctx); err == nil {
			c.last = now
		}
		cancel()
	}
	if now.Sub(c.last) >= s.cfg.AtRiskAfter {
		// Every grant not told yet is told, including one made after an
		// earlier warning whose all-clear could not be confirmed.
		detail := "no contact with the Raft core for " + now.Sub(c.last).Round(time.Millisecond).String()
		for pid, held := range holders {
			for name, token := range held {
				k := toldKey{pid: pid, name: name}
				if t, ok := c.told[k]; ok && t == token {
					continue
				}
				if len(c.told) == 0 {
					s.log.Warn().Dur("since", now.Sub(c.last)).Msg("lost contact with the raft core; telling lock holders")
				}
				c.told[k] = token
				s.sessions.Emit(pid, Notice{Kind: NoticeAtRisk, Lock: name, Token: token, Detail: detail})
			}
		}
		return
	}
	// Contact is back, but the cluster may have declared this node gone
	// meanwhile and given its locks away, and this replica may not have
	// applied that yet: only the leader can say a lock is safe.
	if len(c.told) > 0 && s.confirmHeld(ctx, c.told) {
		clear(c.told)
	}
}

// confirmHeld asks the leader whether each grant told at risk is still its
// session's: lock_safe if it is, lock_lost if the cluster released the lock
// while this node was out of contact. If the leader cannot answer, it tells
// nobody anything and reports false (the caller asks again next round).
func (s *Service) confirmHeld(ctx context.Context, told map[toldKey]uint64) bool {
	qctx, cancel := context.WithTimeout(ctx, s.cfg.AtRiskAfter/2)
	defer cancel()
	safe := make(map[toldKey]bool, len(told))
	for k, token := range told {
		info, err := s.Inspect(qctx, k.name, wire.ReadDefault)
		if err != nil && !errors.Is(err, wire.ErrNotFound) {
			s.log.Debug().Err(err).Str("lock", k.name).Msg("contact back; lock holder not confirmed yet")
			return false
		}
		safe[k] = info.Holder == k.pid && info.Token == token
	}
	for k, token := range told {
		if safe[k] {
			s.sessions.Emit(k.pid, Notice{Kind: NoticeSafe, Lock: k.name, Token: token, Detail: "contact with the Raft core is back"})
		} else if s.dropHeldToken(k.pid, k.name, token) {
			// Once dropped, the replica's own release event finds nothing
			// held and adds no second lock_lost.
			s.sessions.Emit(k.pid, Notice{Kind: NoticeLost, Lock: k.name, Token: token,
				Detail: "released by the cluster while this node was out of contact"})
		}
	}
	return true
}
