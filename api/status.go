package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/cluster"
)

// statusError turns a node error into the gRPC status the client sees
// (DESIGN §13). The message is the error's own text, which names the key or
// field; the code is what lets clients branch without parsing text.
func statusError(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(codeOf(err), err.Error())
}

// codeOf picks the code for err. Order matters only for errors that wrap
// several sentinels; the node's own outcome comes before ctx's, since a
// write that failed for a reason the node states is better reported so.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, cluster.ErrLockHeld), errors.Is(err, cluster.ErrNameTaken):
		// A lock is a set-if-absent: held is "it already exists", and the
		// message names the holder (DESIGN §7, §13).
		return codes.AlreadyExists
	case errors.Is(err, cluster.ErrNotHolder), errors.Is(err, cluster.ErrNoSession), errors.Is(err, cluster.ErrNotOwner),
		errors.Is(err, cluster.ErrKeyring), errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrPeerAlive):
		// The caller's own state is wrong (it does not hold the lock, or
		// its session is not open here, or the keyring refuses the change);
		// retrying as is will not help.
		return codes.FailedPrecondition
	case errors.Is(err, cluster.ErrWaitExpired), errors.Is(err, cluster.ErrNameExpired):
		return codes.DeadlineExceeded
	case errors.Is(err, cluster.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, cluster.ErrVersionMismatch):
		// Aborted is gRPC's code for a failed test-and-set ("the client
		// should retry at a higher level"), unlike FailedPrecondition.
		return codes.Aborted
	case errors.Is(err, cluster.ErrInvalidArgument):
		return codes.InvalidArgument
	case errors.Is(err, cluster.ErrTooLarge):
		return codes.ResourceExhausted
	case errors.Is(err, context.DeadlineExceeded):
		// The caller's own deadline, even for a write whose outcome is
		// unknown (which is unavailability too): it is what the caller
		// asked for.
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, cluster.ErrUnavailable), errors.Is(err, cluster.ErrShutdown):
		return codes.Unavailable
	default:
		return codes.Internal
	}
}

// invalidArgument reports a request field the handler rejects itself,
// naming the field the way the .proto spells it.
func invalidArgument(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, field+": "+format, args...)
}
