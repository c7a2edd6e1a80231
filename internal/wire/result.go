package wire

import (
	"errors"
	"fmt"
)

// Code is a result's status, the first byte of every command and query
// result: OK, or why the command was refused. The shared refusals are
// numbered here; a domain numbers its own refusals after the last one
// taken (see the list below), so that one byte space serves every table
// and a number never changes meaning.
//
//	1-3  shared (this file)
//	4-6  locks
//	7-9  naming
//	10   acl
//	11   registry
//	12-  next free
type Code byte

// The shared codes.
const (
	OK       Code = 0
	NotFound Code = 1
	Mismatch Code = 2 // a compare-and-set or conditional write saw another version
	Invalid  Code = 3 // the command broke a rule of its table (a limit, a malformed field)
)

// The shared sentinels: a domain's refusal with a shared code stands for
// one of these (Sentinel), and validation errors wrap ErrInvalid. api maps
// them onto gRPC codes (DESIGN §13).
var (
	ErrInvalid  = errors.New("invalid argument")
	ErrNotFound = errors.New("not found")
	ErrMismatch = errors.New("version mismatch")
	// ErrUnavailable: no quorum or no leader within the bounded wait, or
	// a queue full for now: asking again later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrNoSession: the PID names no session open on the node asked.
	ErrNoSession = errors.New("no such session")
	// ErrShutdown: the node (or the part asked) is stopping or stopped.
	ErrShutdown = errors.New("node shut down")
	// ErrTooLarge: the answer exceeds a transport's frame limit; asking
	// again the same way fails again.
	ErrTooLarge = errors.New("answer too large")
)

// Sentinel is the shared sentinel of a shared code, nil for any other.
func Sentinel(c Code) error {
	switch c {
	case NotFound:
		return ErrNotFound
	case Mismatch:
		return ErrMismatch
	case Invalid:
		return ErrInvalid
	}
	return nil
}

// Error is a refusal as it crosses Raft: a code and a detail that says
// what happened in words ("lock \"x\" is held by n1/ab"), never a
// sentinel's text. Err is the Go error it stands for on this side (a
// domain's sentinel), so errors.Is works; it is not encoded.
type Error struct {
	Code   Code
	Detail string
	// Extra are fields a domain appends after the detail (the owner of a
	// taken name); nil for most refusals.
	Extra []byte
	Err   error
}

func (e *Error) Error() string { return e.Detail }

// Unwrap returns the sentinel the refusal stands for.
func (e *Error) Unwrap() error { return e.Err }

// Refuse builds a refusal error: code, sentinel and a formatted detail.
func Refuse(code Code, sentinel error, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

// Result starts an OK result; the caller appends its fields.
func Result() *Encoder { return NewEncoder(byte(OK)) }

// Refusal encodes err as a result: an *Error (anywhere in err's chain) as
// its code, detail and extra fields; anything else as Invalid with err's
// text.
func Refusal(err error) []byte {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: Invalid, Detail: err.Error()}
	}
	if e.Code == OK {
		e = &Error{Code: Invalid, Detail: e.Detail}
	}
	r := NewEncoder(byte(e.Code))
	r.String(e.Detail)
	r.b = append(r.b, e.Extra...)
	return r.Data()
}

// ParseResult reads a result's status. For OK it returns a Decoder of the
// result's fields; for a refusal, an *Error with the code, the detail and
// any extra fields, and Err set to the shared sentinel of a shared code
// (nil for a domain's code: the domain that proposed the command sets it,
// in the one place where it maps its codes).
func ParseResult(b []byte) (*Decoder, *Error) {
	d := NewDecoder(b)
	code := Code(d.Byte())
	if d.Err() != nil {
		return nil, &Error{Code: Invalid, Detail: "empty result"}
	}
	if code == OK {
		return d, nil
	}
	e := &Error{Code: code, Detail: d.String(), Err: Sentinel(code)}
	if d.Err() != nil {
		e.Detail = fmt.Sprintf("result status %d, malformed detail", code)
	}
	if rest := d.Rest(); len(rest) > 0 {
		e.Extra = append([]byte(nil), rest...)
	}
	return nil, e
}
