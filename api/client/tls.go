package client

import (
	"crypto/tls"
	"fmt"

	"github.com/conclave-dev/conclave/internal/pki"
)

// WithTLS makes the Client dial the agent over TLS with c (which must trust
// the agent's CA in RootCAs, and carry a client certificate when the agent
// sets tls.verify_incoming). The server name checked is the host of the
// address given to New, unless c.ServerName says otherwise.
func WithTLS(c *tls.Config) Option {
	return func(o *options) { o.tls = c.Clone(); o.tlsFiles = nil }
}

// WithTLSFiles makes the Client dial the agent over TLS with PEM files:
// ca is the cluster CA (required; several concatenated while a CA is
// rotated), cert and key the client certificate made by
// `conclave tls cert create --client NAME` (both, or neither when the agent
// does not verify clients). The CA is read at New; the certificate is
// re-read when its files change, so a long-lived Client picks up a renewed
// certificate on its next connection. New fails naming the file that cannot
// be read.
func WithTLSFiles(ca, cert, key string) Option {
	return func(o *options) {
		o.tlsFiles = &pki.Files{CA: ca, Cert: cert, Key: key}
		o.tls = nil
	}
}

// tlsConfig returns the TLS configuration the options ask for, or nil for
// plain text.
func (o *options) tlsConfig() (*tls.Config, error) {
	if o.tlsFiles == nil {
		return o.tls, nil
	}
	src, err := pki.Load(*o.tlsFiles)
	if err != nil {
		return nil, fmt.Errorf("client: tls: %w", err)
	}
	return src.ClientConfig(), nil
}
