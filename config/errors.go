package config

import (
	"errors"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every decoding and validation error, so callers can
// tell "the operator wrote something wrong" (refuse to start, print the
// message) from an I/O failure reading the file itself.
var ErrInvalid = errors.New("config: invalid configuration")

// Error is one problem found in a configuration. Load, Parse and Validate
// return either a single *Error or several joined with errors.Join; use
// errors.As to reach the fields, errors.Is(err, ErrInvalid) to classify.
//
// Its message reads "<file>:<line>: <key>: <problem>", leaving out the parts
// that are unknown: Validate on a Config built in code has no file or line.
type Error struct {
	// File names the source given to Parse (the path for Load); "" when the
	// Config did not come from a file.
	File string
	// Line is the 1-based line of the offending key or value; 0 when unknown
	// (for example a default that fails a cross-field rule).
	Line int
	// Key is the dotted path from the root, such as "cluster.raft.max_voters",
	// with "[i]" for list elements; "" for problems with the whole document.
	Key string
	// Problem says what is wrong, in words an operator can act on.
	Problem string
	// Err is the underlying cause (an *fs.PathError, a base64 error), or nil.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Unwrap lets errors.Is find both ErrInvalid and the underlying cause (so
// errors.Is(err, fs.ErrNotExist) works for a missing secret file).
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

// joinErrors turns a problem list into the error Validate and Parse return:
// nil, the single *Error itself (so the message has no stray newline), or
// errors.Join of all of them in the order found.
func joinErrors(errs []*Error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}
