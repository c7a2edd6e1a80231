package naming

import (
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// MaxMetaLen bounds a binding's metadata (an address, a version). Like
// every limit of a replicated table it is part of the state machine's
// rules, and so a constant, not configuration. Names and PIDs are bounded
// by wire.MaxNameLen and wire.MaxPIDLen.
const MaxMetaLen = 4096

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
	return 0, wire.Invalidf("scope", "%q is not one of local, eventual, consistent, strong", s)
}

// Valid reports whether s is one of the four scopes.
func (s Scope) Valid() bool { return s >= ScopeLocal && s <= ScopeStrong }

// ValidateMeta checks a binding's metadata size.
func ValidateMeta(meta []byte) error {
	if len(meta) > MaxMetaLen {
		return wire.Invalidf("metadata", "is %d bytes, the limit is %d", len(meta), MaxMetaLen)
	}
	return nil
}

func validateName(name string) error { return wire.ValidateName("name", name, false) }

// validateTarget checks the name and PID every command carries.
func validateTarget(name, pid string) error {
	if err := validateName(name); err != nil {
		return err
	}
	return wire.ValidatePID("pid", pid)
}

// validateRegistration checks what a registration binds: the name, the
// PID and the metadata. Every door (the Service, the table at apply, a
// snapshot, a gossiped claim) checks with it.
func validateRegistration(name, pid string, meta []byte) error {
	if err := validateTarget(name, pid); err != nil {
		return err
	}
	return ValidateMeta(meta)
}
