package client

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
