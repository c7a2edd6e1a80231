package pg

import "github.com/conclave-dev/conclave/internal/wire"

// DefaultScope is the scope of a request that names none.
const DefaultScope = "default"

// The internal heartbeat group.
const (
	// HeartbeatScope and HeartbeatGroup name the group every node joins
	// with its heartbeat PID and broadcasts a beat to. Its scope is
	// reserved (wire.ReservedPrefix): applications may read it but not
	// join, leave or broadcast.
	HeartbeatScope = wire.ReservedPrefix
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

// ValidateKey checks both parts of a group key with the name rules every
// domain shares (wire.ValidateName), for an application's write (reserved
// false) or a read or internal use (reserved true). The error wraps
// ErrInvalid and names the field.
func ValidateKey(k Key, reserved bool) error {
	if err := wire.ValidateName("scope", k.Scope, reserved); err != nil {
		return err
	}
	return wire.ValidateName("group", k.Group, reserved)
}

// scoped is k with DefaultScope for a zero scope, as requests name groups.
func scoped(k Key) Key {
	if k.Scope == "" {
		k.Scope = DefaultScope
	}
	return k
}

// HeartbeatPID is the PID with which node is a member of the heartbeat group.
func HeartbeatPID(node string) string { return node + "/" + heartbeatSession }
