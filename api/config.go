package api

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/internal/pki"
)

// Config is the API's listening addresses and limits. cmd maps the api
// section of the YAML config onto it.
type Config struct {
	// GRPCAddr is host:port for the gRPC services; port 0 picks a free one.
	GRPCAddr string
	// HTTPAddr is host:port for /metrics and /v1/health/*; port 0 picks a
	// free one.
	HTTPAddr string
	// MaxRecvMsgBytes caps one gRPC request message, so a client cannot make
	// the node allocate without bound.
	MaxRecvMsgBytes int
	// ShutdownTimeout bounds a graceful stop: in-flight requests get this
	// long to finish before connections are cut.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds how long an HTTP client may take to send its
	// request headers (slowloris protection).
	ReadHeaderTimeout time.Duration
	// TLS, when set, makes both doors serve TLS with this identity (the
	// node certificate; replaced files are picked up by the Source). Nil
	// serves in clear.
	TLS *pki.Source
	// VerifyIncoming refuses, at the TLS handshake, every gRPC and HTTP
	// client that presents no certificate of the CA: /metrics and the
	// health endpoints included. Needs TLS.
	VerifyIncoming bool
	// AllowedHosts are names, beside localhost and loopback IPs, that a
	// mutating HTTP request may carry in its Host header while the HTTP
	// door is bound to loopback (DNS-rebinding guard, see hostguard.go).
	AllowedHosts []string
}

// DefaultConfig is the production configuration. Both listeners bind to
// loopback and serve in clear: exposing them takes TLS (or the operator's
// insecure: true, checked by config.CheckExposure).
func DefaultConfig() Config {
	return Config{
		GRPCAddr:          "127.0.0.1:7940",
		HTTPAddr:          "127.0.0.1:7941",
		MaxRecvMsgBytes:   4 << 20,         // gRPC's own default; KV values are small
		ShutdownTimeout:   5 * time.Second, // longer than any unary call should take
		ReadHeaderTimeout: 10 * time.Second,
	}
}

// DefaultLocalConfig is for tests: ephemeral loopback ports and a short
// shutdown bound.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.GRPCAddr = "127.0.0.1:0"
	c.HTTPAddr = "127.0.0.1:0"
	c.ShutdownTimeout = time.Second
	return c
}

// Validate checks every field; it names the field at fault.
func (c Config) Validate() error {
	if err := validateAddr(c.GRPCAddr); err != nil {
		return fmt.Errorf("%w: grpc_addr %q: %v", ErrInvalidConfig, c.GRPCAddr, err)
	}
	if err := validateAddr(c.HTTPAddr); err != nil {
		return fmt.Errorf("%w: http_addr %q: %v", ErrInvalidConfig, c.HTTPAddr, err)
	}
	if c.MaxRecvMsgBytes <= 0 {
		return fmt.Errorf("%w: max_recv_msg_bytes %d: must be > 0", ErrInvalidConfig, c.MaxRecvMsgBytes)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("%w: shutdown_timeout %s: must be > 0", ErrInvalidConfig, c.ShutdownTimeout)
	}
	if c.ReadHeaderTimeout <= 0 {
		return fmt.Errorf("%w: read_header_timeout %s: must be > 0", ErrInvalidConfig, c.ReadHeaderTimeout)
	}
	if c.VerifyIncoming && c.TLS == nil {
		return fmt.Errorf("%w: verify_incoming: needs a TLS identity", ErrInvalidConfig)
	}
	if c.TLS != nil && c.TLS.Certificate() == nil {
		return fmt.Errorf("%w: tls: no server certificate (cert_file, key_file)", ErrInvalidConfig)
	}
	for _, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ :") && net.ParseIP(h) == nil {
			return fmt.Errorf("%w: http_allowed_hosts %q: want a host name or IP, without port", ErrInvalidConfig, h)
		}
	}
	return nil
}

func validateAddr(addr string) error {
	if addr == "" {
		return fmt.Errorf("empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return err
	}
	return nil
}
