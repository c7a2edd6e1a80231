package session

import "errors"

// Errors of the Service. Invalid input wraps wire.ErrInvalid, a node that
// is still releasing its previous sessions wire.ErrUnavailable.
var (
	// ErrClosed: the node is stopping; no session opens any more.
	ErrClosed = errors.New("session: node shut down")
	// ErrCannotList: the owners of the tables cannot be listed, and asking
	// again would fail again (the answer exceeds a limit). An Owners
	// implementation wraps it; the Service then stops looking.
	ErrCannotList = errors.New("session: owners cannot be listed")
)
