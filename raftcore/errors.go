package raftcore

import "errors"

var (
	// ErrInvalidConfig wraps every Config.Validate problem.
	ErrInvalidConfig = errors.New("raftcore: invalid config")
	// ErrUnavailable: no leader, or no quorum, within the bounded wait. The
	// wrapping message says how long it waited and what it saw.
	ErrUnavailable = errors.New("raftcore: unavailable")
	// ErrOutcomeUnknown: a write reached a leader that lost leadership (or
	// the connection) before answering; it may or may not have committed.
	// It is not retried automatically, so it can never be applied twice.
	ErrOutcomeUnknown = errors.New("raftcore: outcome unknown")
	// ErrDamagedStore: the Raft log store on disk cannot be read.
	ErrDamagedStore = errors.New("raftcore: raft store is damaged")
	// ErrLogStoreMismatch: the data dir holds another log store than
	// Config.LogStore names (cluster.raft.log_store was switched).
	ErrLogStoreMismatch = errors.New("raftcore: data dir holds another log store")
	// ErrShutdown: the Raft core is stopped.
	ErrShutdown = errors.New("raftcore: shut down")
	// ErrNotSent is wrapped by a Requester error when the request certainly
	// did not reach the peer (dial refused, link cut): safe to retry.
	ErrNotSent = errors.New("raftcore: request not sent")
	// ErrReplyTooLarge is wrapped by a Requester error when the peer ran
	// the request but its reply exceeds the transport's frame limit: asking
	// again would fail again, so it is not retried.
	ErrReplyTooLarge = errors.New("raftcore: reply too large for the transport")
	// ErrMalformed: a forwarded message could not be decoded. Counted.
	ErrMalformed = errors.New("raftcore: malformed forwarded message")
)
