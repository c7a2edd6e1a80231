package registry

import (
	"errors"
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Errors. Callers test with errors.Is; api maps them onto gRPC codes
// (DESIGN §13) through the shared sentinels they wrap, so the registry
// needs no mapping of its own.
var (
	// ErrInvalid: bad input; the message names the field. InvalidArgument.
	ErrInvalid = wire.ErrInvalid
	// ErrNotFound: no such instance. NotFound.
	ErrNotFound = wire.ErrNotFound
	// ErrNoSession: the PID is not a session open on the node asked.
	// FailedPrecondition.
	ErrNoSession = wire.ErrNoSession
	// ErrTaken: the service+id is registered by another session; the
	// message names the owner. It wraps wire.ErrMismatch (Aborted), the
	// shared sentinel of a write that saw someone else's version.
	ErrTaken = fmt.Errorf("registry: instance owned by another session: %w", wire.ErrMismatch)
	// ErrStopped: the Service's Run has ended (the node is stopping).
	ErrStopped = fmt.Errorf("registry: stopped: %w", wire.ErrShutdown)
)

// The refusal codes of the registry table (wire numbers 11-, see
// wire.Code). They are wire format: a number never changes meaning.
const (
	// CodeTaken: ErrTaken; the refusal's extra field is the owner's PID.
	CodeTaken wire.Code = 11
)

func notFound(service, id string) error {
	return wire.Refuse(wire.NotFound, ErrNotFound, "instance %q of service %q is not registered", id, service)
}

// taken is the refusal of a registration (or a health or TTL update) of
// an instance another session owns.
func taken(service, id, owner string) *wire.Error {
	x := wire.NewEncoder()
	x.String(owner)
	return &wire.Error{Code: CodeTaken, Err: ErrTaken, Extra: x.Data(),
		Detail: fmt.Sprintf("instance %q of service %q is registered by %s", id, service, owner)}
}

// refusalErr maps a refusal that crossed Raft back onto this package's
// errors: the one place where the registry's codes become sentinels.
func refusalErr(e *wire.Error) error {
	if e.Code == CodeTaken {
		e.Err = ErrTaken
	}
	if e.Err == nil {
		return fmt.Errorf("registry: result status %d: %s", e.Code, e.Detail)
	}
	return e
}

// OwnerOf is the owner's PID carried by an ErrTaken refusal ("" for any
// other error).
func OwnerOf(err error) string {
	var e *wire.Error
	if !errors.As(err, &e) || e.Code != CodeTaken {
		return ""
	}
	d := wire.NewDecoder(e.Extra)
	owner := d.String()
	if d.Err() != nil {
		return ""
	}
	return owner
}
