package registry

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// monitor runs the checks of one local instance: a goroutine per check
// and one that reports the instance's health transitions through Raft.
// Its goroutines end when its context does (Run's, or its own cancel when
// the instance goes or changes).
//
// Each check has a status that changes only after its thresholds: a
// failure counts towards FailuresBeforeCritical, a pass or a warning
// towards SuccessesBeforePassing (0 = 1). A TTL check's status is what
// its session last reported (no thresholds), critical once the TTL
// lapses. The instance's health is the worst status of its checks.
type monitor struct {
	s        *Service
	key      instanceKey
	pid      string
	endpoint string
	checks   []Check
	cancel   context.CancelFunc
	dirty    chan struct{} // to the reporter: the health may have changed

	propMu sync.Mutex // one proposal at a time, in order

	mu          sync.Mutex
	status      []Health
	succ, fail  []int
	outputs     []string
	ttlDeadline []time.Time // zero: lapsed (or not a ttl check)
	ttlPoke     []chan struct{}
	reported    Health // the health the table holds, as far as this node knows
}

func newMonitor(s *Service, in Instance, cancel context.CancelFunc) *monitor {
	n := len(in.Checks)
	m := &monitor{s: s, key: instanceKey{in.Service, in.ID}, pid: in.PID, endpoint: in.Endpoint, checks: slices.Clone(in.Checks),
		cancel: cancel, dirty: make(chan struct{}, 1),
		status: make([]Health, n), succ: make([]int, n), fail: make([]int, n), outputs: make([]string, n),
		ttlDeadline: make([]time.Time, n), ttlPoke: make([]chan struct{}, n), reported: in.Health}
	now := s.now()
	for i, c := range m.checks {
		// Every check starts where the table stands: a re-registration
		// or a restart of the agent does not flap the instance.
		m.status[i], m.outputs[i] = in.Health, in.Output
		if c.Kind == CheckTTL {
			m.ttlDeadline[i] = now.Add(c.TTL)
			m.ttlPoke[i] = make(chan struct{}, 1)
		}
	}
	return m
}

// start runs the monitor's goroutines under wg.
func (m *monitor) start(ctx context.Context, wg *sync.WaitGroup) {
	for i, c := range m.checks {
		if c.Kind == CheckTTL {
			wg.Go(func() { m.runTTL(ctx, i) })
		} else {
			wg.Go(func() { m.runActive(ctx, i) })
		}
	}
	wg.Go(func() { m.runReporter(ctx) })
}

func (m *monitor) same(in Instance) bool {
	return m.pid == in.PID && m.endpoint == in.Endpoint && slices.Equal(m.checks, in.Checks)
}

func (m *monitor) signal() {
	select {
	case m.dirty <- struct{}{}:
	default:
	}
}

// record applies one result of check i to its thresholds.
func (m *monitor) record(i int, h Health, out string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.checks[i]
	if h == Critical {
		m.fail[i]++
		m.succ[i] = 0
		if m.fail[i] >= max(c.FailuresBeforeCritical, 1) {
			m.setLocked(i, Critical, out)
		}
	} else {
		m.succ[i]++
		m.fail[i] = 0
		if m.succ[i] >= max(c.SuccessesBeforePassing, 1) {
			m.setLocked(i, h, out)
		}
	}
}

func (m *monitor) setLocked(i int, h Health, out string) {
	if m.status[i] != h {
		m.outputs[i] = out
	}
	m.status[i] = h
	if m.aggregateLocked() != m.reported {
		m.signal()
	}
}

// aggregateLocked is the instance's health (the worst check's status) and
// the output of the first check with that status.
func (m *monitor) aggregateLocked() Health {
	h, _ := m.healthLocked()
	return h
}

func (m *monitor) healthLocked() (Health, string) {
	worst, out := Passing, ""
	for i, st := range m.status {
		switch {
		case st > worst:
			worst, out = st, m.outputs[i]
		case st == worst && out == "":
			out = m.outputs[i]
		}
	}
	return worst, truncate(out, MaxOutput)
}

// hasTTL reports whether the instance has a ttl check.
func (m *monitor) hasTTL() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.checks {
		if c.Kind == CheckTTL {
			return true
		}
	}
	return false
}

// ttlUpdate sets the first TTL check's status and renews its TTL (none:
// nothing; the caller asks hasTTL first).
func (m *monitor) ttlUpdate(now time.Time, h Health, out string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range m.checks {
		if c.Kind != CheckTTL {
			continue
		}
		m.ttlDeadline[i] = now.Add(c.TTL)
		if out == "" {
			out = "TTL updated: " + h.String()
		}
		m.setLocked(i, h, out)
		select {
		case m.ttlPoke[i] <- struct{}{}:
		default:
		}
		return
	}
}

// syncReported records the health the table holds (read by a reconcile):
// a proposal of unknown outcome, or a change by another node's hand, is
// corrected by the reporter.
func (m *monitor) syncReported(h Health) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reported = h
	if m.aggregateLocked() != h {
		m.signal()
	}
}

func (m *monitor) runActive(ctx context.Context, i int) {
	c := m.checks[i]
	for {
		cctx, cancel := context.WithTimeout(ctx, c.Timeout)
		h, out := m.s.prober.Probe(cctx, c, m.endpoint)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if h != Critical {
			m.s.sawAlive(m.key.service, m.key.id, m.pid, m.s.now())
		}
		m.record(i, h, out)
		t := time.NewTimer(c.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (m *monitor) runTTL(ctx context.Context, i int) {
	for {
		m.mu.Lock()
		deadline := m.ttlDeadline[i]
		m.mu.Unlock()
		var t *time.Timer
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := deadline.Sub(m.s.now())
			if d <= 0 {
				m.mu.Lock()
				if m.ttlDeadline[i].Equal(deadline) { // not renewed meanwhile
					m.ttlDeadline[i] = time.Time{}
					m.setLocked(i, Critical, "TTL expired")
				}
				m.mu.Unlock()
				continue
			}
			// Wake at the deadline, and at least every ReconcileInterval:
			// the deadline is on the injected clock, the timer on the
			// system's.
			t = time.NewTimer(min(d, m.s.cfg.ReconcileInterval))
			timeout = t.C
		}
		select {
		case <-ctx.Done():
		case <-m.ttlPoke[i]:
		case <-timeout:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// runReporter proposes the instance's health transitions; a failed
// proposal (no quorum) is tried again every Config.ReconcileInterval.
func (m *monitor) runReporter(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.dirty:
		}
		rctx, cancel := context.WithTimeout(ctx, m.s.p.ApplyTimeout())
		err := m.s.report(rctx, m)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrTaken) {
			m.s.log.Warn().Err(err).Str("service", m.key.service).Str("id", m.key.id).Msg("health transition not replicated; retrying")
			t := time.NewTimer(m.s.cfg.ReconcileInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			m.signal()
		}
	}
}

// report proposes the instance's health if it differs from what the
// table holds, with its last_seen.
func (s *Service) report(ctx context.Context, m *monitor) error {
	m.propMu.Lock()
	defer m.propMu.Unlock()
	m.mu.Lock()
	h, out := m.healthLocked()
	reported := m.reported
	m.mu.Unlock()
	if h == reported {
		return nil
	}
	cmd := SetHealth{Service: m.key.service, ID: m.key.id, PID: m.pid, Health: h, Output: out,
		LastSeen: s.lastSeen(m.key, m.pid), Now: s.now()}
	if _, err := s.apply(ctx, cmd.Marshal()); err != nil {
		return err
	}
	m.mu.Lock()
	m.reported = h
	m.mu.Unlock()
	s.log.Info().Str("service", m.key.service).Str("id", m.key.id).Stringer("from", reported).Stringer("health", h).Str("output", out).Msg("instance health changed")
	return nil
}
