package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/pki"
)

// tlsFlags are the client verbs' TLS settings, as in consul and etcdctl:
// with a CA the CLI dials TLS, with a certificate and key it also presents
// them (for agents with tls.verify_incoming).
type tlsFlags struct {
	ca, cert, key string
}

// register defines --ca-file, --cert-file and --key-file on fs, with
// defaults from CONCLAVE_CACERT, CONCLAVE_CLIENT_CERT and
// CONCLAVE_CLIENT_KEY.
func (f *tlsFlags) register(fs *pflag.FlagSet, e env) {
	for _, v := range []struct {
		dst       *string
		flag, env string
		usage     string
	}{
		{&f.ca, "ca-file", "CONCLAVE_CACERT", "cluster CA certificate: dial the agent over TLS"},
		{&f.cert, "cert-file", "CONCLAVE_CLIENT_CERT", "client certificate, for agents with tls.verify_incoming"},
		{&f.key, "key-file", "CONCLAVE_CLIENT_KEY", "client certificate's private key"},
	} {
		if s, ok := e.lookup(v.env); ok {
			*v.dst = s
		}
		fs.StringVar(v.dst, v.flag, *v.dst, v.usage+" (env "+v.env+")")
	}
}

// options returns the client options the flags ask for: none without a CA.
func (f *tlsFlags) options() ([]client.Option, error) {
	switch {
	case f.ca == "" && (f.cert != "" || f.key != ""):
		return nil, errors.New("--cert-file and --key-file need --ca-file (or CONCLAVE_CACERT): the CA that signed the agent's certificate")
	case (f.cert == "") != (f.key == ""):
		return nil, errors.New("--cert-file and --key-file: set both or neither")
	case f.ca == "":
		return nil, nil
	}
	return []client.Option{client.WithTLSFiles(f.ca, f.cert, f.key)}, nil
}

// tlsHints turn the transport's words for a TLS mismatch (deep inside a
// gRPC Unavailable status) into one line that says what to set. The first
// match wins; the texts are crypto/tls's and grpc's own.
var tlsHints = []struct{ match, hint string }{
	{"certificate signed by unknown authority",
		"tls: the agent's certificate is signed by an unknown authority — set --ca-file (or CONCLAVE_CACERT) to the cluster CA"},
	{"certificate required",
		"tls: the agent requires a client certificate — set --cert-file and --key-file (or CONCLAVE_CLIENT_CERT, CONCLAVE_CLIENT_KEY)"},
	{"unknown certificate authority",
		"tls: the agent refused the client certificate: it is not signed by the cluster CA — use a certificate from `conclave tls cert create --client`"},
	{"bad certificate",
		"tls: the agent refused the client certificate — use one from `conclave tls cert create --client` signed by the cluster CA"},
	{"first record does not look like a TLS handshake",
		"tls: the agent does not speak TLS — drop --ca-file, --cert-file, --key-file (and CONCLAVE_CACERT, CONCLAVE_CLIENT_CERT, CONCLAVE_CLIENT_KEY)"},
	{"certificate is valid for",
		"tls: the agent's certificate does not name the address dialed — dial a name or IP it was made for, or add it with `conclave tls cert create --dns/--ip`"},
	{"certificate has expired or is not yet valid",
		"tls: a certificate has expired or is not yet valid — renew it with `conclave tls cert create`"},
	{"error reading server preface",
		"the agent closed the connection before speaking gRPC: it may require TLS — set --ca-file (or CONCLAVE_CACERT)"},
}

// explainTLS returns err, or a one-line explanation when err is a TLS
// mismatch; the explanation keeps the operation that failed ("kv get: ").
func explainTLS(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, h := range tlsHints {
		if strings.Contains(msg, h.match) {
			op := ""
			if i := strings.Index(msg, ": Unavailable:"); i > 0 {
				op = msg[:i] + ": "
			}
			return errors.New(op + h.hint)
		}
	}
	return err
}

// probeTimeout bounds the diagnostic handshake after a failed call.
const probeTimeout = 2 * time.Second

type clientFlagsKey struct{}

// withClientFlags returns ctx carrying the verb's client flags.
func withClientFlags(ctx context.Context, f *clientFlags) context.Context {
	return context.WithValue(ctx, clientFlagsKey{}, f)
}

// explainFailure is the error run prints for a failed command: a client
// verb's error explained with its own flags (explain), anything else with
// the texts alone.
func explainFailure(cmd *cobra.Command, err error) error {
	if cmd != nil && cmd.Context() != nil {
		if f, ok := cmd.Context().Value(clientFlagsKey{}).(*clientFlags); ok {
			return f.token.explainToken(f.explain(err))
		}
	}
	return explainTLS(err)
}

// explain makes a failed call's error say what is wrong with TLS when that
// is the cause. An agent that refuses our client certificate does so after
// a TLS 1.3 client considers the handshake done, so the failed call often
// reports only a reset or a broken pipe; a second handshake that waits for
// the agent's first bytes reads its alert instead ("certificate required").
func (f *clientFlags) explain(err error) error {
	if err == nil || f.tls.ca == "" || status.Code(err) != codes.Unavailable {
		return explainTLS(err)
	}
	if probe := f.probeTLS(); probe != nil {
		op := ""
		if i := strings.Index(err.Error(), ": Unavailable:"); i > 0 {
			op = err.Error()[:i] + ": "
		}
		if e := explainTLS(probe); e != probe {
			return errors.New(op + e.Error())
		}
	}
	return explainTLS(err)
}

// probeTLS handshakes with the agent and reads its first bytes (a gRPC
// server sends its settings at once): nil if the agent kept the connection,
// the TLS error otherwise.
func (f *clientFlags) probeTLS() error {
	src, err := pki.Load(pki.Files{CA: f.tls.ca, Cert: f.tls.cert, Key: f.tls.key})
	if err != nil {
		return err
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: probeTimeout}, "tcp", f.addr, src.ClientConfig())
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	}
	return nil
}
