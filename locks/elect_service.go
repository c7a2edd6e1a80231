package locks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// campaignWait is how long a Campaign stays a candidate: in effect until
// the caller gives up (ctx) or its session ends.
const campaignWait = 10 * 365 * 24 * time.Hour

// observerBuffer is how many states an observer may lag before it is cut
// off (ErrObserverBehind): Deliver never blocks.
const observerBuffer = 64

// ErrObserverBehind ends an Observe whose reader fell more than
// observerBuffer states behind; observe again to resume from the current
// state. It wraps wire.ErrUnavailable.
var ErrObserverBehind = fmt.Errorf("%w: election observer fell behind", wire.ErrUnavailable)

// observers are the Observe calls running on this node, by election name.
type observers struct {
	mu sync.Mutex
	m  map[string]map[chan Election]struct{}
}

func (o *observers) add(name string) chan Election {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]map[chan Election]struct{}{}
	}
	if o.m[name] == nil {
		o.m[name] = map[chan Election]struct{}{}
	}
	ch := make(chan Election, observerBuffer)
	o.m[name][ch] = struct{}{}
	return ch
}

func (o *observers) remove(name string, ch chan Election) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if set := o.m[name]; set != nil {
		if _, ok := set[ch]; ok {
			delete(set, ch)
			close(ch)
		}
		if len(set) == 0 {
			delete(o.m, name)
		}
	}
}

// publish hands e to every observer of e.Name without blocking; one that is
// full is closed and dropped (its Observe ends with ErrObserverBehind).
func (o *observers) publish(e Election) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for ch := range o.m[e.Name] {
		select {
		case ch <- e:
		default:
			delete(o.m[e.Name], ch)
			close(ch)
		}
	}
}

// deliverElections turns a batch's election events into observer states:
// one per election and entry (a release-node that ends a leadership and
// grants the next candidate is one change, not two), in order.
func (s *Service) deliverElections(events []IndexedEvent) {
	var pending *Election
	flush := func() {
		if pending != nil {
			s.obs.publish(*pending)
			pending = nil
		}
	}
	for _, ev := range events {
		name, ok := ElectionName(ev.Event)
		if !ok {
			continue
		}
		if pending != nil && (pending.Name != name || pending.Rev != ev.Index) {
			flush()
		}
		var next Election
		if pending != nil {
			next = *pending
		} else {
			next = Election{Name: name, Rev: ev.Index}
		}
		switch ev.Kind {
		case Granted, Proclaimed:
			next.Leader, next.Token, next.Value = ev.PID, ev.Token, ev.Value
		case Released, AutoReleased:
			if next.Leader == "" || next.Leader == ev.PID {
				next.Leader, next.Token, next.Value = "", 0, ""
			}
		default:
			continue // candidates coming and going do not change the state
		}
		pending = &next
	}
	flush()
}

func validateElection(name, value string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	return validateValue(value)
}

// Campaign makes the open session pid a candidate in the election name
// with value, and blocks until it leads (returning its fencing token),
// ctx ends (the candidacy is withdrawn) or the session ends. Candidates
// lead in FIFO order. Campaigning while leading returns the same token.
func (s *Service) Campaign(ctx context.Context, pid, name, value string) (uint64, error) {
	if err := validateElection(name, value); err != nil {
		return 0, err
	}
	key := semKey(electKey(name))
	done, wake, ok := s.addWaiter(pid, key)
	if !ok {
		return 0, s.noSession(pid)
	}
	defer s.removeWaiter(pid, key, wake)
	resp, err := s.core.Apply(ctx, Campaign{Name: name, PID: pid, Value: value, Wait: campaignWait, Now: s.clock.Now()}.Marshal())
	if err != nil {
		return 0, fmt.Errorf("campaign %q: %w", name, err)
	}
	r, index, err := ParseAcquireResult(resp)
	if err != nil {
		return 0, fmt.Errorf("campaign %q: %w", name, err)
	}
	if r.Granted {
		return r.Token, nil
	}
	poll := func(ctx context.Context) (uint64, bool, bool, error) {
		e, err := s.Leader(ctx, name, wire.ReadDefault)
		if e.Leader == pid {
			return e.Token, true, false, nil
		}
		queued := false
		for _, c := range e.Candidates {
			queued = queued || c.PID == pid
		}
		return 0, false, queued, err
	}
	cancel := func(ctx context.Context) error { return s.resign(ctx, pid, name) }
	return s.semWaitGrant(ctx, "campaign", pid, name, campaignWait, done, wake, index, poll, cancel)
}

// Proclaim sets the value of the election pid leads, without losing
// leadership; ErrNotHolder if pid does not lead it.
func (s *Service) Proclaim(ctx context.Context, pid, name, value string) error {
	if err := validateElection(name, value); err != nil {
		return err
	}
	if _, ok := s.sessions.Lookup(pid); !ok {
		return s.noSession(pid)
	}
	resp, err := s.core.Apply(ctx, Proclaim{Name: name, PID: pid, Value: value, Now: s.clock.Now()}.Marshal())
	if err == nil {
		err = parseOK(resp)
	}
	if err != nil {
		return fmt.Errorf("proclaim %q: %w", name, err)
	}
	return nil
}

// Resign ends pid's leadership of name (the next candidate leads) or its
// candidacy; ErrNotHolder if it is neither.
func (s *Service) Resign(ctx context.Context, pid, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if _, ok := s.sessions.Lookup(pid); !ok {
		return s.noSession(pid)
	}
	return s.resign(ctx, pid, name)
}

func (s *Service) resign(ctx context.Context, pid, name string) error {
	resp, err := s.core.Apply(ctx, Resign{Name: name, PID: pid, Now: s.clock.Now()}.Marshal())
	if err == nil {
		err = parseOK(resp)
	}
	if err != nil {
		return fmt.Errorf("resign %q: %w", name, err)
	}
	return nil
}

// Leader reads the election in mode: leader, token, value and candidates;
// wire.ErrNotFound if nobody leads or campaigns.
func (s *Service) Leader(ctx context.Context, name string, mode wire.ReadMode) (Election, error) {
	if err := ValidateName(name); err != nil {
		return Election{}, err
	}
	resp, err := s.core.Query(ctx, mode, GetElection{Name: name}.Marshal())
	if err != nil {
		return Election{}, fmt.Errorf("leader %q: %w", name, err)
	}
	e, err := ParseElection(resp)
	if err != nil {
		return Election{}, fmt.Errorf("leader %q: %w", name, err)
	}
	return e, nil
}

// Elections lists the elections whose names start with prefix, by name.
func (s *Service) Elections(ctx context.Context, prefix string, mode wire.ReadMode) ([]Election, error) {
	if err := wire.ValidatePrefix("prefix", prefix); err != nil {
		return nil, err
	}
	resp, err := s.core.Query(ctx, mode, ListElections{Prefix: prefix}.Marshal())
	if err != nil {
		return nil, err
	}
	return ParseElections(resp)
}

// Observe calls emit with the election's current state (Leader "" when
// nobody leads), then with every change of leader or value, in order,
// until ctx ends (nil) or emit fails (its error). On a Raft member the
// changes come from the table's events as this node applies them, one per
// entry; on a client node (which applies no log) it polls the leader every
// PollClient and reports the changes it sees. ErrObserverBehind if the
// caller fell too far behind.
func (s *Service) Observe(ctx context.Context, name string, emit func(Election) error) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	member := s.core.Status().Member
	var ch chan Election
	if member {
		ch = s.obs.add(name)
		defer s.obs.remove(name, ch)
	}
	mode := wire.ReadStale
	if !member {
		mode = wire.ReadDefault
	}
	read := func() (Election, error) {
		e, err := s.Leader(ctx, name, mode)
		if errors.Is(err, wire.ErrNotFound) {
			return Election{Name: name}, nil
		}
		e.Candidates = nil
		return e, err
	}
	cur, err := read()
	if err != nil {
		return err
	}
	if err := emit(cur); err != nil {
		return err
	}
	last := cur
	var tick <-chan time.Time
	if !member {
		t := s.clock.NewTimer(s.cfg.PollClient)
		defer t.Stop()
		tick = t.C()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick:
				t.Reset(s.cfg.PollClient)
				e, err := read()
				if err != nil {
					continue
				}
				if e.Rev > last.Rev && (e.Leader != last.Leader || e.Token != last.Token || e.Value != last.Value) {
					last = e
					if err := emit(e); err != nil {
						return err
					}
				}
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-ch:
			if !ok {
				ch = nil // removed by publish: do not close it again
				return ErrObserverBehind
			}
			if e.Rev <= last.Rev {
				continue // already in the state read at the start
			}
			if e.Leader == last.Leader && e.Token == last.Token && e.Value == last.Value {
				last.Rev = e.Rev
				continue
			}
			last = e
			if err := emit(e); err != nil {
				return err
			}
		}
	}
}
