package naming

import (
	"errors"
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Errors. Callers test with errors.Is; api maps them onto gRPC codes
// (DESIGN §13). A refusal's message is its detail (what happened, with the
// name and the owner), never a sentinel's text.
var (
	// ErrInvalid: bad input (name, metadata, scope, PID). InvalidArgument.
	ErrInvalid = wire.ErrInvalid
	// ErrNotFound: no such binding. NotFound.
	ErrNotFound = wire.ErrNotFound
	// ErrTaken: the name is bound to (or reserved by) another PID.
	// AlreadyExists, with the owner in the message and in Conflict.
	ErrTaken = errors.New("naming: name taken")
	// ErrNotOwner: the binding belongs to another PID. FailedPrecondition.
	ErrNotOwner = errors.New("naming: not the owner")
	// ErrExpired: a strong registration did not gather every live node's
	// acknowledgement before its deadline (the message lists the nodes that
	// did not answer), or its reservation passed the deadline before it was
	// activated. DeadlineExceeded.
	ErrExpired = errors.New("naming: strong registration expired")
)

// The refusal codes of the name table (wire numbers 7-9, see wire.Code).
// They are wire format: a number never changes meaning.
const (
	// CodeTaken: a Conflict; the refusal's extra fields are the owner
	// (string), its scope (byte) and whether it holds a reservation (byte).
	CodeTaken wire.Code = 7
	// CodeNotOwner: ErrNotOwner.
	CodeNotOwner wire.Code = 8
	// CodeExpired: ErrExpired.
	CodeExpired wire.Code = 9
)

// Conflict is the error of a registration refused because another PID
// owns the name. It wraps ErrTaken.
type Conflict struct {
	Name  string
	Owner string // the PID holding (or reserving) the name
	Scope Scope  // where the owner's binding lives
	// Reserved is true when the owner holds a pending strong reservation,
	// not an active binding.
	Reserved bool
	// Node is set when a strong registration was refused by a node's
	// acknowledgement: the node that holds the conflicting binding.
	Node string
}

func (c *Conflict) Error() string {
	what := "registered"
	if c.Reserved {
		what = "reserved"
	}
	msg := fmt.Sprintf("name %q is already %s by %s (scope %s)", c.Name, what, c.Owner, c.Scope)
	if c.Node != "" {
		msg += fmt.Sprintf(", reported by node %s", c.Node)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrTaken) hold.
func (c *Conflict) Unwrap() error { return ErrTaken }

// refusal is the Conflict as it crosses Raft: CodeTaken, its message, and
// the owner, scope and reserved flag as the extra fields.
func (c *Conflict) refusal() *wire.Error {
	x := wire.NewEncoder()
	x.String(c.Owner)
	x.Byte(byte(c.Scope))
	x.Bool(c.Reserved)
	return &wire.Error{Code: CodeTaken, Detail: c.Error(), Extra: x.Data(), Err: ErrTaken}
}

// refusalOf is the result of a command the table refused: a Conflict as
// its refusal, any other error (a *wire.Error, or a validation error that
// wraps ErrInvalid) as wire.Refusal encodes it.
func refusalOf(err error) []byte {
	var c *Conflict
	if errors.As(err, &c) {
		return wire.Refusal(c.refusal())
	}
	return wire.Refusal(err)
}

// refusalErr maps a refusal that crossed Raft back onto this package's
// errors: the one place where naming's codes become sentinels. name is the
// name the command was about (a Conflict's extra fields do not repeat it).
func refusalErr(name string, e *wire.Error) error {
	switch e.Code {
	case CodeTaken:
		d := wire.NewDecoder(e.Extra)
		c := &Conflict{Name: name, Owner: d.String(), Scope: Scope(d.Byte()), Reserved: d.Bool()}
		if d.Err() != nil {
			return fmt.Errorf("%w: a refusal of %q without its owner", ErrTaken, name)
		}
		return c
	case CodeNotOwner:
		e.Err = ErrNotOwner
	case CodeExpired:
		e.Err = ErrExpired
	}
	if e.Err == nil {
		return fmt.Errorf("naming: result status %d: %s", e.Code, e.Detail)
	}
	return e
}
