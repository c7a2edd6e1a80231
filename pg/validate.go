package pg

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits that are part of the wire format: every node must agree on them.
const (
	// MaxNameLen is the longest scope or group name in bytes (DESIGN §8
	// name rules apply to groups too).
	MaxNameLen = 256
	// MaxPIDLen bounds a PID (<node>/<session-id>) in bytes.
	MaxPIDLen = 512
	// ReservedPrefix starts scopes and groups kept for conclave's own use
	// (the heartbeat group). Applications may read them but not join,
	// leave or broadcast.
	ReservedPrefix = "_sys"
	// DefaultScope is the scope of a request that names none.
	DefaultScope = "default"
)

// The internal heartbeat group.
const (
	// HeartbeatScope and HeartbeatGroup name the group every node joins
	// with its heartbeat PID and broadcasts a beat to.
	HeartbeatScope = "_sys"
	HeartbeatGroup = "heartbeat"
	// heartbeatSession is the session part of a node's heartbeat PID: not
	// hex, so it can never clash with a real session id.
	heartbeatSession = "_sys"
)

// Key names a group: its scope and its name.
type Key struct {
	Scope, Group string
}

// String is "scope/group" for logs and errors.
func (k Key) String() string { return k.Scope + "/" + k.Group }

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// ValidateName checks a scope or group name: 1-MaxNameLen bytes of
// printable UTF-8. Unless reserved is allowed, it must not start with
// ReservedPrefix. The error wraps ErrInvalid and names field.
func ValidateName(field, name string, reserved bool) error {
	switch {
	case name == "":
		return invalid(field, "must not be empty")
	case len(name) > MaxNameLen:
		return invalid(field, "is %d bytes, the limit is %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return invalid(field, "is not valid UTF-8")
	case !reserved && strings.HasPrefix(name, ReservedPrefix):
		return invalid(field, "%q: the prefix %q is reserved", name, ReservedPrefix)
	}
	for i, r := range name {
		if !unicode.IsPrint(r) {
			return invalid(field, "%q: unprintable character %U at byte %d", name, r, i)
		}
	}
	return nil
}

// ValidateKey checks both parts of a group key, for an application's write
// (reserved false) or a read or internal use (reserved true).
func ValidateKey(k Key, reserved bool) error {
	if err := ValidateName("scope", k.Scope, reserved); err != nil {
		return err
	}
	return ValidateName("group", k.Group, reserved)
}

// ValidatePID checks a PID: <node>/<session-id>, both parts non-empty, at
// most MaxPIDLen bytes of printable UTF-8 without spaces.
func ValidatePID(field, pid string) error {
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
	for i, r := range pid {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return invalid(field, "%q: space or unprintable character %U at byte %d", pid, r, i)
		}
	}
	return nil
}

// NodeOf returns the node part of a PID, or "" when pid has no '/'.
func NodeOf(pid string) string {
	node, _, ok := strings.Cut(pid, "/")
	if !ok {
		return ""
	}
	return node
}

// HeartbeatPID is the PID with which node is a member of the heartbeat group.
func HeartbeatPID(node string) string { return node + "/" + heartbeatSession }
