package pg

import "errors"

// Sentinel errors. Callers test them with errors.Is; the returned errors wrap
// them with the detail (the field, the group, the limit).
var (
	// ErrInvalid: a bad argument (scope, group, pid, payload). The message
	// names the field; nothing changed.
	ErrInvalid = errors.New("pg: invalid argument")
	// ErrNotMember: a leave of a group the PID has not joined.
	ErrNotMember = errors.New("pg: not a member")
	// ErrMalformed: bytes from a peer that do not decode to a valid message.
	ErrMalformed = errors.New("pg: malformed message")
	// ErrStopped: the Service is not running (stopped, or Run not started).
	ErrStopped = errors.New("pg: stopped")
	// ErrMonitorOverflow: a monitor's reader fell behind by more than the
	// monitor buffer; its events are no longer complete, so it ends.
	ErrMonitorOverflow = errors.New("pg: monitor fell behind")
	// ErrInvalidConfig: a Config field is out of range; the message names it.
	ErrInvalidConfig = errors.New("pg: invalid config")
)
