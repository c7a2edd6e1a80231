package gossip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Run joins the cluster through Config.JoinAddrs (and the inventory, see
// discover.go) and keeps this node in it:
// the initial join retries with exponential backoff (RetryJoinMin doubling up
// to RetryJoinMax, with jitter so seeds restarted together do not retry in
// lockstep) until another live member is seen. Afterwards, every
// RejoinInterval, it tries a few members that failed (so a healed partition
// merges back whichever side is larger), and, whenever this node is the only
// live member it knows, the seeds as well. Run returns nil when ctx is done
// or the Membership is shut down.
func (m *Membership) Run(ctx context.Context) error {
	m.lifeMu.RLock()
	if m.shut {
		m.lifeMu.RUnlock()
		return nil
	}
	m.runWG.Add(1)
	m.lifeMu.RUnlock()
	defer m.runWG.Done()

	reclaimDone := make(chan struct{})
	go func() {
		defer close(reclaimDone)
		m.reannounce(ctx)
	}()
	defer func() { <-reclaimDone }()

	if m.discovering() {
		// Lookups take ctx: let Shutdown cancel them too, so it never
		// waits out a slow resolver.
		dctx, cancel := context.WithCancel(ctx)
		watchDone := make(chan struct{})
		go func() {
			defer close(watchDone)
			select {
			case <-m.done:
				cancel()
			case <-dctx.Done():
			}
		}()
		defer func() { cancel(); <-watchDone }()

		// The inventory is resolved before the first join, so its
		// addresses are seeds from the start; then again at its interval.
		m.resolveInventory(dctx)
		discoverDone := make(chan struct{})
		go func() {
			defer close(discoverDone)
			m.discover(dctx)
		}()
		defer func() { <-discoverDone }()
	}

	seeds := m.joinTargets()
	delay := m.cfg.RetryJoinMin
	for attempt := 1; len(seeds) > 0; attempt++ {
		n, err := m.join(ctx, seeds)
		if m.stopped(ctx) {
			return nil
		}
		if err == nil {
			m.counters.joins.Add(1)
			m.log.Info().Int("contacted", n).Int("attempt", attempt).Msg("joined cluster")
			break
		}
		m.counters.joinFailures.Add(1)
		wait := jitter(delay)
		m.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("join failed")
		if !m.wait(ctx, wait) {
			return nil
		}
		delay = min(2*delay, m.cfg.RetryJoinMax)
		seeds = m.joinTargets() // the inventory may have changed meanwhile
	}
	if m.cfg.RejoinInterval == 0 {
		m.wait(ctx, -1)
		return nil
	}
	for m.wait(ctx, m.cfg.RejoinInterval) {
		if m.left.Load() {
			continue
		}
		// Like Serf's reconnect: try members that failed (not those that
		// left), so a healed partition merges back even when neither side
		// is alone, and a node with no seeds of its own is found again.
		failed := m.failedAddrs(maxReconnects)
		if m.ml.NumMembers() > 1 {
			if len(failed) > 0 {
				if n, err := m.join(ctx, failed); err == nil {
					m.counters.rejoins.Add(1)
					m.log.Info().Int("contacted", n).Msg("reconnected to failed members")
				}
			}
			continue
		}
		addrs := append(m.joinTargets(), failed...)
		if len(addrs) == 0 {
			continue
		}
		n, err := m.join(ctx, addrs)
		if m.stopped(ctx) {
			return nil
		}
		if err != nil {
			m.counters.joinFailures.Add(1)
			m.log.Warn().Err(err).Msg("alone, rejoin failed")
			continue
		}
		m.counters.rejoins.Add(1)
		m.log.Info().Int("contacted", n).Msg("rejoined cluster")
	}
	return nil
}

// reannounce answers peers that still gossip this node's name at an old
// address (it restarted on a new one, as a rescheduled pod does): they
// refuse the new address until the old one has been dead for
// DeadNodeReclaimTime, and nothing in memberlist repeats the node's claim
// after that. So it announces itself again (a new incarnation from its
// address) once that time has passed, for as long as the stale address
// comes back. It returns when ctx ends or the Membership shuts down.
func (m *Membership) reannounce(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.done:
			return
		case <-m.staleSelf:
		}
		// The old address must first be declared dead (up to the
		// suspicion timeout's ceiling, some seconds) and then stay dead
		// for the reclaim time, and peers stop gossiping it once it is
		// dead: so announce once an interval for a while, not once per
		// signal.
		every := max(m.cfg.ProbeInterval, m.cfg.DeadNodeReclaimTime)
		for range reannouncements {
			if !m.wait(ctx, every) {
				return
			}
			if m.left.Load() {
				break
			}
			if err := m.ml.UpdateNode(m.cfg.TCPTimeout); err != nil {
				m.log.Debug().Err(err).Msg("announce after a new address")
			}
		}
	}
}

// reannouncements is how many times a node back on a new address announces
// itself, one interval apart: past memberlist's longest suspicion timeout
// (6 times its shortest) plus the reclaim time.
const reannouncements = 20

// maxReconnects bounds the failed members tried per pass.
const maxReconnects = 3

// failedAddrs returns the gossip addresses of up to max members that are
// dead (failed, not left), most recently seen first.
func (m *Membership) failedAddrs(max int) []string {
	var dead []Member
	for _, mem := range m.Members() {
		if mem.State == StateDead && mem.Name != m.cfg.Name {
			dead = append(dead, mem)
		}
	}
	sort.Slice(dead, func(i, j int) bool { return dead[i].LastSeen.After(dead[j].LastSeen) })
	var out []string
	for _, mem := range dead {
		if len(out) == max {
			break
		}
		out = append(out, mem.Addr)
	}
	return out
}

// Join contacts addrs (host:port; DNS names resolve to all their addresses)
// and merges state with every one reached. It returns how many were reached,
// and an error wrapping ErrJoinFailed (and ErrForeignCluster when the
// cluster-ID guard refused) when none was. ctx is checked between addresses;
// one address takes at most Config.TCPTimeout.
func (m *Membership) Join(ctx context.Context, addrs []string) (int, error) {
	n, err := m.join(ctx, addrs)
	if err == nil {
		m.counters.joins.Add(1)
	}
	return n, err
}

// join is Join without counting. Success means at least one address other
// than our own was reached and we now see another live member: a join that
// only reached ourselves (our address in a shared seed list) is a failure.
func (m *Membership) join(ctx context.Context, addrs []string) (int, error) {
	total := 0
	var errs []error
	for _, a := range addrs {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if m.stopped(ctx) {
			return total, ErrShutdown
		}
		if a == m.local {
			continue
		}
		n, err := m.ml.Join([]string{a})
		total += n
		if err != nil {
			errs = append(errs, restoreSentinel(err, ErrForeignCluster))
		}
	}
	if total == 0 || m.ml.NumMembers() < 2 {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no other live member reached"))
		}
		return total, fmt.Errorf("%w: %w", ErrJoinFailed, errors.Join(errs...))
	}
	return total, nil
}

// restoreSentinel re-attaches sentinel to err when memberlist flattened it
// into text (it wraps delegate errors with %v), so callers can tell a
// foreign cluster from an unreachable seed with errors.Is.
func restoreSentinel(err, sentinel error) error {
	if strings.Contains(err.Error(), sentinel.Error()) {
		return withSentinel{err, sentinel}
	}
	return err
}

type withSentinel struct {
	error
	sentinel error
}

func (w withSentinel) Unwrap() []error { return []error{w.error, w.sentinel} }

// seeds is JoinAddrs without our own advertised address, so a seed list
// shared by every node does not make a lone seed "join" itself.
func (m *Membership) seeds() []string {
	out := make([]string, 0, len(m.cfg.JoinAddrs))
	for _, a := range m.cfg.JoinAddrs {
		if a != m.local {
			out = append(out, a)
		}
	}
	return out
}

func (m *Membership) stopped(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-m.done:
		return true
	default:
		return false
	}
}

// wait sleeps for d (forever when d < 0) and reports whether Run should go
// on: false once ctx is done or the Membership shut down.
func (m *Membership) wait(ctx context.Context, d time.Duration) bool {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-m.done:
		return false
	case <-timer:
		return true
	}
}

// jitter spreads d over [d/2, d].
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
