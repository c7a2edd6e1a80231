package internode

import "errors"

var (
	// ErrInvalidConfig wraps every Config.Validate problem.
	ErrInvalidConfig = errors.New("internode: invalid config")
	// ErrClosed: the Mesh (or the StreamLayer) is closed.
	ErrClosed = errors.New("internode: closed")
	// ErrNotSent is wrapped when a request or send certainly did not reach a
	// handler on the peer (gate closed, dial failed, stream not opened, or
	// refused before the handler ran), so a retry cannot apply it twice.
	ErrNotSent = errors.New("internode: not sent")
	// ErrGated: the dial gate refused the peer (a test has cut the link).
	// The gate's own error is wrapped too.
	ErrGated = errors.New("internode: link cut by dial gate")
	// ErrFrameTooLarge: a request or reply exceeds MaxFrameSize, here or
	// at the peer.
	ErrFrameTooLarge = errors.New("internode: frame too large")
	// ErrMalformed: a frame could not be decoded (bad varint, truncated,
	// unknown status).
	ErrMalformed = errors.New("internode: malformed frame")
	// ErrUnknownClass: the peer has no handler or StreamLayer for the class
	// (for example an older node that predates it).
	ErrUnknownClass = errors.New("internode: unknown class")
	// ErrNoReply: the stream ended before a reply arrived (peer closed,
	// session lost). The handler may or may not have run.
	ErrNoReply = errors.New("internode: stream ended before reply")
	// ErrBadPreamble: an inbound connection did not start with the mesh's
	// magic and version. Counted in Stats.BadPreambles; never returned to
	// callers of the public API.
	ErrBadPreamble = errors.New("internode: bad connection preamble")
	// ErrIdentityMismatch: under TLS, a peer claimed another node name in
	// its preamble than its certificate names. Counted as RejectWrongNode.
	ErrIdentityMismatch = errors.New("internode: claimed node differs from certificate")
	// ErrUnknownPeer: under TLS, no node is known at the address to dial,
	// so the listener's certificate cannot be checked; the dial is not
	// attempted. It passes once gossip or Raft knows the peer.
	ErrUnknownPeer = errors.New("internode: no node known at address")
	// ErrOverLimit: the peer refused the request because this node's
	// streams were over its per-peer buffer cap until the deadline.
	ErrOverLimit = errors.New("internode: peer over its per-peer limit")
)

// RemoteError is a handler's error as seen by the caller of Request: the
// handler's Error() text, carried in an error reply. Use errors.As to get it.
type RemoteError struct{ Msg string }

// Error returns the remote handler's message, marked as remote.
func (e *RemoteError) Error() string { return "internode: remote handler: " + e.Msg }
