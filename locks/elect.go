package locks

import (
	"strings"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// An election is a semaphore of limit 1 whose holder (the leader) and
// waiters (the candidates, FIFO) carry a value. It lives in the semaphore
// map under its key, electKey(name): a NUL byte and the name. No valid
// name starts with NUL (names are printable), so elections can never meet a
// semaphore, and ListSems skips them. Everything else (auto-release on
// session end and node loss, the tick, the token index*SemTokenScale, the
// snapshot) is the semaphores'.

// MaxElectionValue bounds an election value in bytes.
const MaxElectionValue = 1024

const electPrefix = "\x00"

func electKey(name string) string   { return electPrefix + name }
func isElectKey(key string) bool    { return strings.HasPrefix(key, electPrefix) }
func electName(key string) string   { return strings.TrimPrefix(key, electPrefix) }
func displayName(key string) string { return electName(key) }

// ElectionName returns the election's name if the event's Name is an
// election key, and false for a semaphore's (or lock's) event.
func ElectionName(e Event) (string, bool) {
	if !e.Sem || !isElectKey(e.Name) {
		return "", false
	}
	return electName(e.Name), true
}

// Election is a copy of one live election.
type Election struct {
	Name   string
	Leader string // PID, "" when nobody leads (only while a tick is due)
	Token  uint64
	Value  string
	// Rev is the index of the entry that last changed the leader or value.
	Rev        uint64
	GrantedAt  time.Time
	Candidates []Waiter
}

// CampaignRequest is one campaign.
type CampaignRequest struct {
	Name  string
	PID   string
	Value string
	// Wait is how long to stay a candidate; 0 fails fast.
	Wait time.Duration
}

// Validate checks the request; the error wraps ErrInvalid and names the field.
func (r CampaignRequest) Validate() error {
	if err := ValidateName(r.Name); err != nil {
		return err
	}
	if err := validatePID("pid", r.PID); err != nil {
		return err
	}
	if err := validateValue(r.Value); err != nil {
		return err
	}
	return validateDuration("wait", r.Wait, 0)
}

func validateValue(v string) error {
	if len(v) > MaxElectionValue {
		return invalid("value", "is %d bytes, the limit is %d", len(v), MaxElectionValue)
	}
	return nil
}

// Campaign makes pid a candidate in the named election: leader at once if
// nobody leads (token as for a semaphore slot), else queued FIFO behind
// the other candidates for up to Wait (fail fast with ErrHeld naming the
// leader when Wait is 0). A candidate campaigning again keeps its place and
// takes the new value; the leader campaigning again keeps its token and
// value (use Proclaim to change it).
func (t *Table) Campaign(index uint64, now time.Time, req CampaignRequest) (AcquireResult, []Event, error) {
	if err := req.Validate(); err != nil {
		return AcquireResult{}, nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return AcquireResult{}, nil, err
	}
	sreq := SemAcquireRequest{Name: electKey(req.Name), PID: req.PID, Limit: 1, Wait: req.Wait}
	return t.semAcquire(index, toNanos(now), sreq, req.Value, "election")
}

// Proclaim sets the leader's value without losing leadership; anyone but
// the leader gets ErrNotHolder naming the leader.
func (t *Table) Proclaim(index uint64, now time.Time, name, pid, value string) ([]Event, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := validatePID("pid", pid); err != nil {
		return nil, err
	}
	if err := validateValue(value); err != nil {
		return nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return nil, err
	}
	s := t.sems[electKey(name)]
	if s == nil || len(s.holders) == 0 {
		return nil, wire.Refuse(CodeNotHolder, ErrNotHolder, "election %q has no leader", name)
	}
	if s.holders[0].pid != pid {
		return nil, wire.Refuse(CodeNotHolder, ErrNotHolder, "election %q is led by %s, not %s", name, s.holders[0].pid, pid)
	}
	h := &s.holders[0]
	if h.value == value {
		return nil, nil
	}
	h.value, s.rev = value, index
	return []Event{{Kind: Proclaimed, Name: s.name, PID: pid, Token: h.token, Sem: true, Value: value}}, nil
}

// Resign ends pid's leadership (the next candidate leads, in the same
// entry) or its candidacy.
func (t *Table) Resign(index uint64, now time.Time, name, pid string) ([]Event, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := validatePID("pid", pid); err != nil {
		return nil, err
	}
	if err := t.checkIndex(index); err != nil {
		return nil, err
	}
	return t.semRelease(index, toNanos(now), electKey(name), pid, "election")
}

// ElectionsLed returns the number of elections that have a leader; for
// metrics.
func (t *Table) ElectionsLed() int {
	n := 0
	for key, s := range t.sems {
		if isElectKey(key) && len(s.holders) > 0 {
			n++
		}
	}
	return n
}

// ListElections returns copies of the live elections whose names start
// with prefix, sorted by name.
func (t *Table) ListElections(prefix string) []Election {
	var out []Election
	for _, key := range t.sortedSemNames() {
		if isElectKey(key) && strings.HasPrefix(electName(key), prefix) {
			e, _ := t.GetElection(electName(key))
			out = append(out, e)
		}
	}
	return out
}

// GetElection returns a copy of the named election, false when nobody
// leads or campaigns.
func (t *Table) GetElection(name string) (Election, bool) {
	s, ok := t.sems[electKey(name)]
	if !ok {
		return Election{}, false
	}
	e := Election{Name: name, Rev: s.rev}
	if len(s.holders) > 0 {
		h := s.holders[0]
		e.Leader, e.Token, e.Value, e.GrantedAt = h.pid, h.token, h.value, fromNanos(h.grantedAt)
	}
	for _, w := range s.waiters {
		e.Candidates = append(e.Candidates, Waiter{PID: w.pid, Deadline: fromNanos(w.deadline)})
	}
	return e, true
}
