package naming

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits. Like the lock table's, they are part of the replicated state
// machine's rules and so constants, not configuration.
const (
	// MaxNameLen is the longest name in bytes (DESIGN §8).
	MaxNameLen = 256
	// MaxMetaLen bounds a binding's metadata (an address, a version).
	MaxMetaLen = 4096
	// MaxPIDLen bounds a PID (<node>/<session-id>).
	MaxPIDLen = 512
	// ReservedPrefix starts names kept for conclave's own use.
	ReservedPrefix = "_sys"
)

// Errors. Messages name the field or the owner; cluster maps them onto gRPC
// codes (DESIGN §13).
var (
	// ErrInvalid: bad input (name, metadata, scope, PID). InvalidArgument.
	ErrInvalid = errors.New("naming: invalid")
	// ErrTaken: the name is bound to (or reserved by) another PID.
	// AlreadyExists, with the owner in the message and in Conflict.
	ErrTaken = errors.New("naming: name taken")
	// ErrNotFound: no such binding. NotFound.
	ErrNotFound = errors.New("naming: not found")
	// ErrNotOwner: the binding belongs to another PID. FailedPrecondition.
	ErrNotOwner = errors.New("naming: not the owner")
	// ErrExpired: a strong reservation passed its deadline before it was
	// activated. DeadlineExceeded.
	ErrExpired = errors.New("naming: reservation expired")
)

// Conflict is the error of a registration refused because another PID
// owns the name. It wraps ErrTaken.
type Conflict struct {
	Name  string
	Owner string // the PID holding (or reserving) the name
	Scope Scope  // where the owner's binding lives
	// Reserved is true when the owner holds a pending strong reservation,
	// not an active binding.
	Reserved bool
}

func (c *Conflict) Error() string {
	what := "registered"
	if c.Reserved {
		what = "reserved"
	}
	return fmt.Sprintf("name %q is already %s by %s (scope %s)", c.Name, what, c.Owner, c.Scope)
}

// Unwrap makes errors.Is(err, ErrTaken) hold.
func (c *Conflict) Unwrap() error { return ErrTaken }

// Scope is how far a name is visible and what it promises.
type Scope uint8

// The scopes, cheapest first. The numbers are part of the replicated
// encodings.
const (
	ScopeUnspecified Scope = 0
	ScopeLocal       Scope = 1
	ScopeEventual    Scope = 2
	ScopeConsistent  Scope = 3
	ScopeStrong      Scope = 4
)

func (s Scope) String() string {
	switch s {
	case ScopeLocal:
		return "local"
	case ScopeEventual:
		return "eventual"
	case ScopeConsistent:
		return "consistent"
	case ScopeStrong:
		return "strong"
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// ParseScope reads a scope's name as String writes it.
func ParseScope(s string) (Scope, error) {
	switch s {
	case "local":
		return ScopeLocal, nil
	case "eventual":
		return ScopeEventual, nil
	case "consistent":
		return ScopeConsistent, nil
	case "strong":
		return ScopeStrong, nil
	}
	return 0, invalid("scope", "%q is not one of local, eventual, consistent, strong", s)
}

// Valid reports whether s is one of the four scopes.
func (s Scope) Valid() bool { return s >= ScopeLocal && s <= ScopeStrong }

// ValidateName checks a name: 1-MaxNameLen bytes of printable UTF-8, not
// starting with ReservedPrefix. The error wraps ErrInvalid and names the
// field "name".
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

// ValidateMeta checks a binding's metadata size.
func ValidateMeta(meta []byte) error {
	if len(meta) > MaxMetaLen {
		return invalid("metadata", "is %d bytes, the limit is %d", len(meta), MaxMetaLen)
	}
	return nil
}

// ValidatePID checks a PID: <node>/<session-id>, both parts non-empty.
func ValidatePID(pid string) error {
	switch {
	case pid == "":
		return invalid("pid", "must not be empty")
	case len(pid) > MaxPIDLen:
		return invalid("pid", "is %d bytes, the limit is %d", len(pid), MaxPIDLen)
	case !utf8.ValidString(pid):
		return invalid("pid", "is not valid UTF-8")
	}
	node, id, ok := strings.Cut(pid, "/")
	if !ok || node == "" || id == "" {
		return invalid("pid", "%q is not <node>/<session-id>", pid)
	}
	return nil
}

// NodeOf returns the node part of a PID, or "" when it has none.
func NodeOf(pid string) string {
	node, _, ok := strings.Cut(pid, "/")
	if !ok {
		return ""
	}
	return node
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}
