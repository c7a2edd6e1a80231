package locks

import (
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// A grant hint tells the node of a waiting acquire that the leader has
// applied its grant, before that node's own replica applies the entry.
//
// A member learns that an entry is committed only with the leader's next
// AppendEntries, and applies it only after storing that request's entries
// (a sync): a waiter on a follower learned of its grant a sync and a round
// trip after one on the leader, and a client node only by polling. The
// leader, which applies first, sends the waiter's node a hint; the waiting
// acquire returns on whichever comes first, the hint or its replica. A hint
// states a committed fact (only committed entries are applied), so
// believing it is as safe as believing the replica; it is only a hint
// because it may be lost, and then the replica (or the poll) delivers.

// GrantPusher is given every lock grant to a session of another node
// (NodeOf(ev.PID)) that this node's replica applies; it sends a hint
// (EncodeGrantHint) to that node if this node leads. The Service calls it
// on the FSM goroutine: it must not block.
type GrantPusher func(ev IndexedEvent)

// WithGrantPush gives the Service its GrantPusher.
func WithGrantPush(push GrantPusher) Option { return func(s *Service) { s.push = push } }

const grantHintVersion = 1

// EncodeGrantHint encodes the grant ev (Kind Granted, a lock) as a hint.
func EncodeGrantHint(ev IndexedEvent) []byte {
	e := wire.NewEncoder(grantHintVersion)
	e.String(ev.Name)
	e.String(ev.PID)
	e.Uvarint(ev.Token)
	e.Uvarint(ev.Index)
	return e.Data()
}

func decodeGrantHint(b []byte) (IndexedEvent, error) {
	d := wire.NewDecoder(b)
	if v := d.Byte(); d.Err() == nil && v != grantHintVersion {
		return IndexedEvent{}, fmt.Errorf("%w: grant hint version %d, want %d", wire.ErrMalformed, v, grantHintVersion)
	}
	ev := IndexedEvent{Event: Event{Kind: Granted}}
	ev.Name = d.Field("name").StringMax(MaxNameLen)
	ev.PID = d.Field("pid").StringMax(wire.MaxPIDLen)
	ev.Token = d.Field("token").Uvarint()
	ev.Index = d.Field("index").Uvarint()
	if err := d.Done(); err != nil {
		return IndexedEvent{}, fmt.Errorf("grant hint: %w", err)
	}
	if err := ValidateName(ev.Name); err != nil {
		return IndexedEvent{}, fmt.Errorf("grant hint: %w", err)
	}
	if err := validatePID("pid", ev.PID); err != nil {
		return IndexedEvent{}, fmt.Errorf("grant hint: %w", err)
	}
	return ev, nil
}

// HandleGrantHint wakes the waiting acquire a hint is for, if it is still
// waiting on this node; a hint for nobody (the acquire already returned,
// or the session is of another node) changes nothing. The caller checks
// that the hint comes from the node this node believes leads. Errors name
// malformed hints.
func (s *Service) HandleGrantHint(hint []byte) error {
	ev, err := decodeGrantHint(hint)
	if err != nil {
		return err
	}
	if NodeOf(ev.PID) != s.cfg.Node {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.bySession[ev.PID]; e != nil {
		if wake := e.waiters[ev.Name]; wake != nil {
			wakeLatest(wake, waitDone{token: ev.Token, index: ev.Index})
		}
	}
	return nil
}

// pushGrants hands each lock grant in events to a session of another node
// to the pusher. Called by Deliver, not under s.mu.
func (s *Service) pushGrants(events []IndexedEvent) {
	if s.push == nil {
		return
	}
	for _, ev := range events {
		if ev.Kind == Granted && !ev.Sem && NodeOf(ev.PID) != s.cfg.Node {
			s.push(ev)
		}
	}
}
