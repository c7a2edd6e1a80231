package locks

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits. They are constants, not configuration, because they are part of the
// replicated state machine: two nodes with different limits would apply the
// same command differently and their tables would diverge. Changing one needs
// a new command version.
const (
	// MaxNameLen is the longest lock name in bytes (DESIGN §8 name rules).
	MaxNameLen = 256
	// MaxPIDLen bounds a PID (<node>/<session-id>) in bytes: a 253-byte DNS
	// node name plus a session id, with room to spare.
	MaxPIDLen = 512
	// MaxWaiters bounds one lock's queue, so one hot lock cannot grow the FSM
	// (and every snapshot) without limit.
	MaxWaiters = 1024
	// MaxLockDelay caps lock_delay as Consul does (60 s): a longer delay keeps
	// every waiter out for longer than any failover needs and looks like an
	// outage.
	MaxLockDelay = 60 * time.Second
	// ReservedPrefix starts names kept for conclave's own use.
	ReservedPrefix = "_sys"
)

// ValidateName reports whether name is a valid lock name: 1-MaxNameLen bytes
// of printable UTF-8, not starting with ReservedPrefix. The error wraps
// ErrInvalid and names the field "name".
func ValidateName(name string) error {
	switch {
	case name == "":
		return invalid("name", "must not be empty")
	case len(name) > MaxNameLen:
		return invalid("name", "is %d bytes, the limit is %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return invalid("name", "is not valid UTF-8")
	case strings.HasPrefix(name, ReservedPrefix):
		return invalid("name", "%q: the prefix %q is reserved", name, ReservedPrefix)
	}
	for i, r := range name {
		if !unicode.IsPrint(r) {
			return invalid("name", "%q: unprintable character %U at byte %d", name, r, i)
		}
	}
	return nil
}

// NodeOf returns the node part of a PID (<node>/<session-id>), or "" when pid
// has no '/'.
func NodeOf(pid string) string {
	node, _, ok := strings.Cut(pid, "/")
	if !ok {
		return ""
	}
	return node
}

// validatePID checks a PID: <node>/<session-id>, both parts non-empty, at most
// MaxPIDLen bytes, printable UTF-8 without spaces. The node part is what
// ReleaseNode matches, so a PID without one could never be auto-released.
func validatePID(field, pid string) error {
	switch {
	case pid == "":
		return invalid(field, "must not be empty")
	case len(pid) > MaxPIDLen:
		return invalid(field, "is %d bytes, the limit is %d", len(pid), MaxPIDLen)
	case !utf8.ValidString(pid):
		return invalid(field, "is not valid UTF-8")
	}
	node, session, ok := strings.Cut(pid, "/")
	if !ok || node == "" || session == "" {
		return invalid(field, "%q is not <node>/<session-id>", pid)
	}
	if err := checkPrintable(field, pid); err != nil {
		return err
	}
	return nil
}

// validateNode checks a node name as it appears in PIDs.
func validateNode(node string) error {
	switch {
	case node == "":
		return invalid("node", "must not be empty")
	case len(node) > MaxPIDLen:
		return invalid("node", "is %d bytes, the limit is %d", len(node), MaxPIDLen)
	case !utf8.ValidString(node):
		return invalid("node", "is not valid UTF-8")
	case strings.Contains(node, "/"):
		return invalid("node", "%q must not contain '/'", node)
	}
	return checkPrintable("node", node)
}

func checkPrintable(field, s string) error {
	for i, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return invalid(field, "%q: unprintable or space character %U at byte %d", s, r, i)
		}
	}
	return nil
}

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
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}
