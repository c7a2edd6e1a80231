package naming

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// registerStrong reserves name in Raft, gathers every live node's
// acknowledgement over the mesh, then activates the reservation. On a
// refusal or at the deadline the reservation is cancelled.
func (s *Service) registerStrong(ctx context.Context, pid, name string, meta []byte) (Binding, error) {
	start := s.now()
	deadline := start.Add(s.cfg.StrongDeadline)
	// The nodes to ask are those alive when the registration starts.
	peers := s.members.LivePeers()
	// This node is asked first, without a round trip.
	if c := s.conflictHere(name, pid); c != nil {
		return Binding{}, c
	}
	cmd := Reserve{Name: name, PID: pid, Meta: meta, Deadline: deadline, Now: start}.Marshal()
	d, err := s.applyAgain(ctx, name, cmd, deadline)
	if err != nil {
		return Binding{}, err
	}
	if d.Bool() { // already bound to this session
		b := decodeBinding(d)
		return b, d.Done()
	}
	missing, conflict := s.gatherAcks(ctx, peers, deadline.Sub(s.now()), name, pid)
	if conflict != nil || len(missing) > 0 {
		s.cancelReservation(name, pid)
		if conflict != nil {
			return Binding{}, conflict
		}
		if ctx.Err() != nil && s.now().Before(deadline) {
			return Binding{}, fmt.Errorf("strong registration of %q: %w", name, ctx.Err())
		}
		return Binding{}, wire.Refuse(CodeExpired, ErrExpired,
			"strong registration of %q expired after %s: no acknowledgement from %s",
			name, s.cfg.StrongDeadline, strings.Join(missing, ", "))
	}
	d, err = s.applyAgain(ctx, name, Activate{Name: name, PID: pid, Now: s.now()}.Marshal(), deadline)
	if err != nil {
		return Binding{}, err
	}
	b := decodeBinding(d)
	return b, d.Done()
}

// applyAgain proposes a name command that is idempotent for its PID (a
// register, reserve or activate: a replay by the same PID leaves the same
// binding and returns it) and proposes it again while an attempt's
// outcome is unknown (the leader was lost after accepting it, as in a
// leader's graceful stop), until ctx ends or until. Other writes are never
// proposed twice; these may be, since twice is the same as once.
func (s *Service) applyAgain(ctx context.Context, name string, cmd []byte, until time.Time) (*wire.Decoder, error) {
	for {
		d, err := s.apply(ctx, name, cmd)
		if err == nil || !s.p.OutcomeUnknown(err) || ctx.Err() != nil || !s.now().Before(until) {
			return d, err
		}
		s.log.Debug().Err(err).Str("name", name).Msg("name command of unknown outcome proposed again (idempotent)")
		t := time.NewTimer(s.cfg.AgainPace)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("name %q: %w; the registration may have been applied: %v", name, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// cancelReservation drops a reservation with its own short context, since
// the caller's may be done. A failed cancel is harmless: the reservation
// expires at its deadline anyway.
func (s *Service) cancelReservation(name, pid string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.p.ApplyTimeout())
	defer cancel()
	if _, err := s.apply(ctx, name, Cancel{Name: name, PID: pid}.Marshal()); err != nil {
		s.log.Debug().Err(err).Str("name", name).Msg("cancel of a strong reservation failed; it expires at its deadline")
	}
}

// Acks: request [1] name pid; reply [0] ok, or [1] owner scope (a
// conflicting binding on the answering node).
const (
	ackVersion  = 1
	ackOK       = 0
	ackConflict = 1
)

func encodeAckRequest(name, pid string) []byte {
	e := wire.NewEncoder(ackVersion)
	e.String(name)
	e.String(pid)
	return e.Data()
}

func encodeAckConflict(owner string, scope Scope) []byte {
	e := wire.NewEncoder(ackConflict)
	e.String(owner)
	e.Byte(byte(scope))
	return e.Data()
}

// decodeAck reads node's answer about name: nil if it holds no conflict.
func decodeAck(resp []byte, name, node string) (*Conflict, error) {
	d := wire.NewDecoder(resp)
	switch d.Byte() {
	case ackOK:
		return nil, d.Done()
	case ackConflict:
		c := &Conflict{Name: name, Owner: d.String(), Scope: Scope(d.Byte()), Node: node}
		return c, d.Done()
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: unknown ack answer", wire.ErrMalformed)
}

// gatherAcks asks every peer whether it holds a conflicting binding of
// name, for at most wait. It returns the peers that did not answer, or the
// first conflict reported.
func (s *Service) gatherAcks(ctx context.Context, peers []Peer, wait time.Duration, name, pid string) ([]string, *Conflict) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req := encodeAckRequest(name, pid)
	answers := make(chan ackAnswer, len(peers))
	for _, p := range peers {
		go func() { answers <- s.ask(ctx, p, req, name) }()
	}
	answered := map[string]bool{}
	var conflict *Conflict
	for range peers {
		a := <-answers
		if a.err == nil {
			answered[a.node] = true
			if a.conflict != nil && conflict == nil {
				conflict = a.conflict
				cancel() // no need to wait for the rest
			}
		}
	}
	if conflict != nil {
		return nil, conflict
	}
	var missing []string
	for _, p := range peers {
		if !answered[p.Name] {
			missing = append(missing, p.Name)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

// ackAnswer is one peer's answer: err is nil once it answered (or left).
type ackAnswer struct {
	node     string
	conflict *Conflict
	err      error
}

// ask asks one peer until it answers, it is known to have left, or ctx
// ends.
func (s *Service) ask(ctx context.Context, p Peer, req []byte, name string) ackAnswer {
	a := ackAnswer{node: p.Name}
	for {
		resp, err := s.acker.Request(ctx, p.Addr, req)
		if err == nil {
			a.conflict, a.err = decodeAck(resp, name, p.Name)
			return a
		}
		a.err = err
		if s.members.Left(p.Name) {
			// It left gracefully: it closed its sessions and released
			// their names first, so it holds nothing to conflict with (a
			// leader's graceful stop).
			a.err = nil
			return a
		}
		// A refused dial or a dropped link may heal before the deadline:
		// ask again, briefly spaced.
		t := time.NewTimer(s.cfg.AckRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return a
		case <-t.C:
		}
	}
}

// HandleAck answers a peer's strong registration (the mesh's ack class):
// a conflict if this node holds a binding of the name for another session
// in any scope. Called concurrently, one goroutine per request.
func (s *Service) HandleAck(_ context.Context, req []byte) ([]byte, error) {
	d := wire.NewDecoder(req)
	ver := d.Byte()
	name, pid := d.String(), d.String()
	if d.Done() != nil || ver != ackVersion {
		s.malformed.Add(1)
		return nil, fmt.Errorf("%w: malformed name ack request", wire.ErrInvalid)
	}
	if c := s.conflictHere(name, pid); c != nil {
		return encodeAckConflict(c.Owner, c.Scope), nil
	}
	return []byte{ackOK}, nil
}

// conflictHere reports a binding of name by another PID on this node, in
// any scope.
func (s *Service) conflictHere(name, pid string) *Conflict {
	for _, get := range []func(string) (Binding, bool){s.table.Owner, s.eventual.Get, s.local.Get} {
		if b, ok := get(name); ok && b.PID != pid {
			return &Conflict{Name: name, Owner: b.PID, Scope: b.Scope, Node: s.node}
		}
	}
	return nil
}
