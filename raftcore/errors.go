package raftcore

import (
	"errors"
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The errors a caller of Apply and Query acts on wrap internal/wire's
// shared sentinels (ErrUnavailable, ErrShutdown, ErrTooLarge), so the
// domain services and the API map them without a translation of their own.
var (
	// ErrInvalidConfig wraps every Config.Validate problem.
	ErrInvalidConfig = errors.New("raftcore: invalid config")
	// ErrUnavailable: no leader, or no quorum, within the bounded wait. The
	// wrapping message says how long it waited and what it saw.
	ErrUnavailable = fmt.Errorf("raftcore: %w", wire.ErrUnavailable)
	// ErrOutcomeUnknown: a write reached a leader that lost leadership (or
	// the connection) before answering; it may or may not have committed.
	// It is not retried automatically, so it can never be applied twice.
	// When the leader was lost it comes with wire.ErrUnavailable; when the
	// caller's own context ended first, with the context's error alone.
	ErrOutcomeUnknown = errors.New("raftcore: outcome unknown")
	// ErrDamagedStore: the Raft log store on disk cannot be read.
	ErrDamagedStore = errors.New("raftcore: raft store is damaged")
	// ErrLogStoreMismatch: the data dir holds another log store than
	// Config.LogStore names (cluster.raft.log_store was switched).
	ErrLogStoreMismatch = errors.New("raftcore: data dir holds another log store")
	// ErrShutdown: the Raft core is stopped.
	ErrShutdown = fmt.Errorf("raftcore: %w", wire.ErrShutdown)
	// ErrNotSent is wrapped by a Requester error when the request certainly
	// did not reach the peer (dial refused, link cut): safe to retry.
	ErrNotSent = errors.New("raftcore: request not sent")
	// ErrReplyTooLarge is wrapped by a Requester error when the peer ran
	// the request but its reply exceeds the transport's frame limit: asking
	// again would fail again, so it is not retried.
	ErrReplyTooLarge = fmt.Errorf("raftcore: reply too large for the transport: %w", wire.ErrTooLarge)
	// ErrMalformed: a forwarded message could not be decoded. Counted.
	ErrMalformed = errors.New("raftcore: malformed forwarded message")
)
