package cluster

import "time"

// Helpers of the name commands (fsm_names.go, names*.go) that the lock
// code used to hold.

func nowNanos() uint64 { return uint64(time.Now().UnixNano()) }

func unixNano(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

func timeNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

// reason is an error whose text is just its message (which already says
// what happened, e.g. `name "x" is bound to n1/ab`) but which still
// matches its sentinel with errors.Is.
type reason struct {
	msg string
	err error
}

func (r reason) Error() string { return r.msg }
func (r reason) Unwrap() error { return r.err }
