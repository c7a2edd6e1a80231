package locks

import "fmt"

// EventKind says what happened to whom.
type EventKind uint8

const (
	// Granted: PID now holds the lock with Token. Emitted for every grant,
	// direct or to a waiter, but not for an idempotent re-acquire.
	Granted EventKind = iota + 1
	// Released: PID released the lock voluntarily; Token was its token.
	Released
	// AutoReleased: PID's session or node ended while holding the lock; Token
	// was its token. lock_delay may now keep the lock unavailable.
	AutoReleased
	// WaitExpired: PID's wait ran out before it was granted the lock.
	WaitExpired
	// WaitCancelled: PID's wait ended because it released (cancelled) it or its
	// session or node ended. Every wait therefore ends in exactly one of
	// Granted, WaitExpired or WaitCancelled, so the cluster layer can clean up
	// whatever it keeps per pending acquire.
	WaitCancelled
	// Proclaimed: the election leader PID changed its value to Value.
	Proclaimed
)

func (k EventKind) String() string {
	switch k {
	case Granted:
		return "granted"
	case Released:
		return "released"
	case AutoReleased:
		return "auto_released"
	case WaitExpired:
		return "wait_expired"
	case WaitCancelled:
		return "wait_cancelled"
	case Proclaimed:
		return "proclaimed"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one change a call made. A call's events are ordered by lock name,
// and for one lock: cancelled waits, the release, expired waits, the grant.
type Event struct {
	Kind EventKind
	Name string
	PID  string
	// Token is the new token for Granted, the released token for Released and
	// AutoReleased, and 0 for the wait events.
	Token uint64
	// Sem: the event is about the semaphore Name, not the lock Name (an
	// election's Name is its key, see ElectionName).
	Sem bool
	// Value is the leader's value for an election's Granted and Proclaimed.
	Value string
}

func (e Event) String() string {
	if e.Sem {
		return fmt.Sprintf("%s semaphore %q %s token=%d", e.Kind, e.Name, e.PID, e.Token)
	}
	return fmt.Sprintf("%s %q %s token=%d", e.Kind, e.Name, e.PID, e.Token)
}
