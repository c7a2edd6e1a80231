package api

import "errors"

var (
	// ErrInvalidConfig: a Config field is out of range; the message names it.
	ErrInvalidConfig = errors.New("api: invalid config")
	// ErrServing: Serve was called a second time.
	ErrServing = errors.New("api: already serving")
	// ErrClosed: Serve was called after Close.
	ErrClosed = errors.New("api: server closed")
)
