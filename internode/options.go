package internode

import "github.com/rs/zerolog"

// Option configures optional collaborators of a Mesh.
type Option func(*options)

type options struct {
	log  zerolog.Logger
	gate func(addr string) error
	tls  *TLS
}

// WithLogger sets the parent logger; the mesh logs under component=internode.
// Default: zerolog.Nop().
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithDialGate installs a check run before every dial and every stream open
// to addr, and on every inbound session and stream from addr (addr being the
// peer's advertised address). A non-nil error fails the operation at once,
// wrapped with ErrGated. Tests use it to cut links: the gate stops new
// traffic, ClosePeer kills what is already open. It is called concurrently
// and must be fast.
func WithDialGate(gate func(addr string) error) Option {
	return func(o *options) { o.gate = gate }
}
