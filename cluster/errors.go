package cluster

import (
	"errors"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/raftcore"
)

// Errors returned by Node. Callers test with errors.Is; api maps them to gRPC
// status codes. Messages carried by wrapping errors name the key or field.
// The ones every domain speaks are internal/wire's.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = wire.ErrNotFound
	// ErrVersionMismatch: a compare-and-set or conditional delete saw another version.
	ErrVersionMismatch = wire.ErrMismatch
	// ErrInvalidArgument: bad input; the wrapping message names the field.
	ErrInvalidArgument = wire.ErrInvalid
	// ErrUnavailable: no quorum or no leader within the bounded wait.
	ErrUnavailable = wire.ErrUnavailable
	// ErrTooLarge: the answer (a list through a node that forwards it to
	// the leader) exceeds the internode frame limit; asking again the same
	// way fails again. The message names the limit and what to narrow.
	ErrTooLarge = wire.ErrTooLarge
	// ErrShutdown: the node is stopping or stopped.
	ErrShutdown = wire.ErrShutdown
	// ErrKeyring: a gossip keyring operation this node's state refuses
	// (encryption off, use of a key not installed, removal of the primary);
	// the wrapping message names the field and the node.
	ErrKeyring = gossip.ErrKeyring
	// ErrNotLeader: an operator call only the leader takes (snapshot save
	// and restore) reached another node; the message names the leader.
	ErrNotLeader = raftcore.ErrNotLeader
	// ErrPeerAlive: remove-peer of a server that is alive in gossip (the
	// reconciler would add it back): stop it, or have it leave.
	ErrPeerAlive = errors.New("peer is alive")
)
