package locks

import (
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Limits. They are constants, not configuration, because they are part of the
// replicated state machine: two nodes with different limits would apply the
// same command differently and their tables would diverge. Changing one needs
// a new command version. The identifier limits are the ones every domain
// shares (internal/wire).
const (
	// MaxNameLen is the longest lock name in bytes (DESIGN §8 name rules).
	MaxNameLen = wire.MaxNameLen
	// MaxPIDLen bounds a PID (<node>/<session-id>) in bytes.
	MaxPIDLen = wire.MaxPIDLen
	// MaxWaiters bounds one lock's queue, so one hot lock cannot grow the FSM
	// (and every snapshot) without limit.
	MaxWaiters = 1024
	// MaxLockDelay caps lock_delay as Consul does (60 s): a longer delay keeps
	// every waiter out for longer than any failover needs and looks like an
	// outage.
	MaxLockDelay = 60 * time.Second
	// ReservedPrefix starts names kept for conclave's own use.
	ReservedPrefix = wire.ReservedPrefix
)

// ValidateName reports whether name is a valid lock name: 1-MaxNameLen bytes
// of printable UTF-8, not starting with ReservedPrefix. The error wraps
// ErrInvalid and names the field "name".
func ValidateName(name string) error { return wire.ValidateName("name", name, false) }

// NodeOf returns the node part of a PID (<node>/<session-id>), or "" when pid
// has no '/'.
func NodeOf(pid string) string { return wire.NodeOf(pid) }

// validatePID checks a PID: <node>/<session-id>. The node part is what
// ReleaseNode matches, so a PID without one could never be auto-released.
func validatePID(field, pid string) error { return wire.ValidatePID(field, pid) }

// validateNode checks a node name as it appears in PIDs.
func validateNode(node string) error { return wire.ValidateNode("node", node) }

func validateDuration(field string, d, limit time.Duration) error {
	if d < 0 {
		return invalid(field, "must not be negative, got %s", d)
	}
	if limit > 0 && d > limit {
		return invalid(field, "is %s, the limit is %s", d, limit)
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return wire.Invalidf(field, format, args...)
}
