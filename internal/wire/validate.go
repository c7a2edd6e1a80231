package wire

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the identifiers every domain shares. They are part of the
// replicated state machine's rules (a table refuses a command that breaks
// them at apply, on every replica alike), so they are constants: changing
// one needs a new command version.
const (
	// MaxNameLen is the longest name (lock, registered name, group, scope)
	// in bytes (DESIGN §8).
	MaxNameLen = 256
	// MaxPIDLen bounds a PID (<node>/<session-id>): a 253-byte DNS node
	// name plus a session id, with room to spare.
	MaxPIDLen = 512
	// ReservedPrefix starts names kept for conclave's own use.
	ReservedPrefix = "_sys"
	// MaxNodeNameLen bounds a node name: it travels in every gossip
	// message and in every PID.
	MaxNodeNameLen = 128
)

// Invalidf is a validation error: it wraps ErrInvalid and reads
// "field: problem".
func Invalidf(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// ValidateName checks a name: 1-MaxNameLen bytes of printable UTF-8 and,
// unless reserved names are allowed (a read, or conclave's own use), not
// starting with ReservedPrefix. The error names field.
func ValidateName(field, name string, reserved bool) error {
	switch {
	case name == "":
		return Invalidf(field, "must not be empty")
	case len(name) > MaxNameLen:
		return Invalidf(field, "is %d bytes, the limit is %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return Invalidf(field, "is not valid UTF-8")
	case !reserved && strings.HasPrefix(name, ReservedPrefix):
		return Invalidf(field, "%q: the prefix %q is reserved", name, ReservedPrefix)
	}
	for i, r := range name {
		if !unicode.IsPrint(r) {
			return Invalidf(field, "%q: unprintable character %U at byte %d", name, r, i)
		}
	}
	return nil
}

// ValidatePrefix checks a listing prefix: at most MaxNameLen bytes (it may
// be empty).
func ValidatePrefix(field, prefix string) error {
	if len(prefix) > MaxNameLen {
		return Invalidf(field, "longer than %d bytes", MaxNameLen)
	}
	return nil
}

// ValidatePID checks a PID: <node>/<session-id>, both parts non-empty, at
// most MaxPIDLen bytes of printable UTF-8 without spaces. The node part is
// what a release-node command matches, so a PID without one could never be
// released with its node.
func ValidatePID(field, pid string) error {
	switch {
	case pid == "":
		return Invalidf(field, "must not be empty")
	case len(pid) > MaxPIDLen:
		return Invalidf(field, "is %d bytes, the limit is %d", len(pid), MaxPIDLen)
	case !utf8.ValidString(pid):
		return Invalidf(field, "is not valid UTF-8")
	}
	node, session, ok := strings.Cut(pid, "/")
	if !ok || node == "" || session == "" {
		return Invalidf(field, "%q is not <node>/<session-id>", pid)
	}
	return printable(field, pid)
}

// ValidateNode checks a node name (cluster.name, the node part of a PID,
// a Raft server ID): NodeNameProblem's rules. The error names field.
func ValidateNode(field, node string) error {
	if msg := NodeNameProblem(node); msg != "" {
		return Invalidf(field, "%s", msg)
	}
	return nil
}

// NodeNameProblem says what is wrong with a node name, "" if nothing: 1 to
// MaxNodeNameLen bytes of printable UTF-8 without whitespace or '/' (which
// separates node and session in a PID). config reports it against
// cluster.name; the tables that name nodes refuse the same names.
func NodeNameProblem(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > MaxNodeNameLen:
		return fmt.Sprintf("must be at most %d bytes, got %d", MaxNodeNameLen, len(name))
	case !utf8.ValidString(name):
		return fmt.Sprintf("must be valid UTF-8, got %q", name)
	case strings.ContainsFunc(name, func(r rune) bool {
		return r == '/' || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}):
		return fmt.Sprintf("must not contain whitespace, '/' or control characters, got %q", name)
	}
	return ""
}

func printable(field, s string) error {
	for i, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return Invalidf(field, "%q: unprintable or space character %U at byte %d", s, r, i)
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
