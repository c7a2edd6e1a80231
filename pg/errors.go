package pg

import (
	"errors"
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them with the detail (the field, the group, the limit). The ones every
// domain speaks are internal/wire's, so that api maps them alike.
var (
	// ErrInvalid: a bad argument (scope, group, pid, payload). The message
	// names the field; nothing changed.
	ErrInvalid = wire.ErrInvalid
	// ErrNoSession: the PID names no session open on this node (or it
	// ended while joining).
	ErrNoSession = wire.ErrNoSession
	// ErrMalformed: bytes from a peer that do not decode to a valid message.
	ErrMalformed = wire.ErrMalformed
	// ErrNotMember: a leave of a group the PID has not joined.
	ErrNotMember = errors.New("pg: not a member")
	// ErrStopped: the Service is not running (stopped, or Run not started).
	ErrStopped = fmt.Errorf("pg: %w", wire.ErrShutdown)
	// ErrMonitorOverflow: a monitor's reader fell behind by more than the
	// monitor buffer; its events are no longer complete, so it ends.
	ErrMonitorOverflow = errors.New("pg: monitor fell behind")
	// ErrInvalidConfig: a Config field is out of range; the message names it.
	ErrInvalidConfig = errors.New("pg: invalid config")
)
