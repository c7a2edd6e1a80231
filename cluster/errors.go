package cluster

import "errors"

// Errors returned by Node. Callers test with errors.Is; api maps them to gRPC
// status codes. Messages carried by wrapping errors name the key or field.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("cluster: not found")
	// ErrVersionMismatch: a compare-and-set or conditional delete saw another version.
	ErrVersionMismatch = errors.New("cluster: version mismatch")
	// ErrInvalidArgument: bad input; the wrapping message names the field.
	ErrInvalidArgument = errors.New("cluster: invalid argument")
	// ErrUnavailable: no quorum or no leader within the bounded wait.
	ErrUnavailable = errors.New("cluster: unavailable")
	// ErrTooLarge: the answer (a list through a node that forwards it to
	// the leader) exceeds the internode frame limit; asking again the same
	// way fails again. The message names the limit and what to narrow.
	ErrTooLarge = errors.New("cluster: answer too large")
	// ErrShutdown: the node is stopping or stopped.
	ErrShutdown = errors.New("cluster: node shut down")
	// ErrKeyring: a gossip keyring operation this node's state refuses
	// (encryption off, use of a key not installed, removal of the primary);
	// the wrapping message names the field and the node.
	ErrKeyring = errors.New("cluster: keyring operation refused")
)
