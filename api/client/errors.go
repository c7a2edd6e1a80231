package client

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrSessionEnded: the Session was closed or ended (Session.Err says why)
// before the call could use it.
var ErrSessionEnded = errors.New("client: session ended")

// IsNotFound reports whether err is a NotFound status: the key (or other
// named thing) does not exist.
func IsNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// IsVersionMismatch reports whether err is an Aborted status: a
// compare-and-set or conditional delete saw another version.
func IsVersionMismatch(err error) bool { return status.Code(err) == codes.Aborted }

// IsUnavailable reports whether err is an Unavailable status: the agent is
// unreachable or shutting down, or the cluster has no quorum. Such calls may
// succeed when retried later (writes only if they are idempotent or CAS).
func IsUnavailable(err error) bool { return status.Code(err) == codes.Unavailable }

// IsLockHeld reports whether err is an AlreadyExists status: a fail-fast
// acquire found the lock held; the message names the holder.
func IsLockHeld(err error) bool { return status.Code(err) == codes.AlreadyExists }

// IsNotHolder reports whether err is a FailedPrecondition status: a release
// by a session that does not hold the lock, or a call naming a session that
// is not open on the agent.
func IsNotHolder(err error) bool { return status.Code(err) == codes.FailedPrecondition }
