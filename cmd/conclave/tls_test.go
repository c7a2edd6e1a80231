package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/pki"
)

// runCLI runs the command line with the environment vars and returns its
// exit code and output.
func runCLI(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	e := env{lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	code := run(context.Background(), args, e, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, nil, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
	}
	return out
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keyMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestTLSCreate runs `tls ca create` and `tls cert create` in a temp dir
// and checks the files with crypto/x509: a CA, a node certificate naming
// its node (pki.NodeName) for serving and dialing, a client certificate
// naming no node, keys 0600, and nothing overwritten.
func TestTLSCreate(t *testing.T) {
	dir := t.TempDir()
	out := mustRun(t, "tls", "ca", "create", "--dir", dir)
	caPath := filepath.Join(dir, "conclave-agent-ca.pem")
	if !strings.Contains(out, caPath) {
		t.Fatalf("ca create printed %q", out)
	}
	mustRun(t, "tls", "cert", "create", "--node", "node-1", "--dir", dir, "--dns", "node1.example", "--ip", "10.0.0.1")
	mustRun(t, "tls", "cert", "create", "--client", "ops", "--dir", dir)

	ca := readCert(t, caPath)
	if !ca.IsCA {
		t.Fatal("CA certificate is not a CA")
	}
	if m := keyMode(t, filepath.Join(dir, "conclave-agent-ca-key.pem")); m != 0o600 {
		t.Fatalf("CA key mode %o, want 600", m)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	node := readCert(t, filepath.Join(dir, "node-1.pem"))
	if name, err := pki.NodeName(node); err != nil || name != "node-1" {
		t.Fatalf("NodeName(node-1.pem) = %q, %v", name, err)
	}
	for _, host := range []string{"node1.example", "10.0.0.1", "127.0.0.1", "localhost"} {
		if _, err := node.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("node certificate for %s: %v", host, err)
		}
	}
	if m := keyMode(t, filepath.Join(dir, "node-1-key.pem")); m != 0o600 {
		t.Fatalf("node key mode %o, want 600", m)
	}

	cl := readCert(t, filepath.Join(dir, "ops.pem"))
	if _, err := cl.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client certificate: %v", err)
	}
	if _, err := pki.NodeName(cl); err == nil {
		t.Fatal("a client certificate names a node")
	}
	if _, err := cl.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a client certificate can serve")
	}

	// Nothing is overwritten: the files stay as they were.
	before, _ := os.ReadFile(caPath)
	for _, args := range [][]string{
		{"tls", "ca", "create", "--dir", dir},
		{"tls", "cert", "create", "--node", "node-1", "--dir", dir},
	} {
		code, _, errOut := runCLI(t, nil, args...)
		if code != 1 || !strings.Contains(errOut, "already exists; not overwriting it") || !e2eOneLine(errOut) {
			t.Fatalf("%v again: exit %d, stderr %q", args, code, errOut)
		}
	}
	if after, _ := os.ReadFile(caPath); string(after) != string(before) {
		t.Fatal("the CA was overwritten")
	}
}

func TestTLSCertCreateErrors(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "tls", "ca", "create", "--dir", dir)
	other := t.TempDir()
	tests := map[string]struct {
		args []string
		want string
	}{
		"neither":        {[]string{"--dir", dir}, "set --node NAME or --client NAME"},
		"both":           {[]string{"--dir", dir, "--node", "a", "--client", "b"}, "--node and --client: set one, not both"},
		"slash":          {[]string{"--dir", dir, "--node", "../a"}, `invalid --node "../a"`},
		"bad ip":         {[]string{"--dir", dir, "--node", "a", "--ip", "10.0.0"}, `invalid --ip "10.0.0"`},
		"bad dns":        {[]string{"--dir", dir, "--node", "a", "--dns", "a b"}, `invalid --dns "a b"`},
		"no CA in dir":   {[]string{"--dir", other, "--client", "a"}, "--ca: open " + filepath.Join(other, "conclave-agent-ca.pem")},
		"CA key missing": {[]string{"--dir", other, "--client", "a", "--ca", filepath.Join(dir, "conclave-agent-ca.pem")}, "--ca-key: open"},
		"zero days":      {[]string{"--dir", dir, "--client", "a", "--days", "0"}, "invalid --days 0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runCLI(t, nil, append([]string{"tls", "cert", "create"}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) || !e2eOneLine(errOut) {
				t.Fatalf("exit %d, stderr %q, want one line with %q", code, errOut, tc.want)
			}
			if ents, _ := os.ReadDir(other); len(ents) != 0 {
				t.Fatalf("a failed create wrote %v", ents)
			}
		})
	}
}

// tlsAgentCLI serves a fake node with TLS and verify_incoming from files
// made by the CLI, and returns the address and the directory.
func tlsAgentCLI(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, "tls", "ca", "create", "--dir", dir)
	mustRun(t, "tls", "cert", "create", "--node", "n1", "--dir", dir)
	mustRun(t, "tls", "cert", "create", "--client", "ops", "--dir", dir)
	src, err := pki.Load(pki.Files{CA: filepath.Join(dir, "conclave-agent-ca.pem"), Cert: filepath.Join(dir, "n1.pem"), Key: filepath.Join(dir, "n1-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultLocalConfig()
	cfg.TLS, cfg.VerifyIncoming = src, true
	srv, err := api.New(cfg, newFakeNode("n1").services())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("api server did not stop")
		}
	})
	return srv.GRPCAddr().String(), dir
}

// TestCLITLS: the client verbs dial TLS with --ca-file or CONCLAVE_CACERT
// and present the client certificate; every mismatch is one line saying
// what to set.
func TestCLITLS(t *testing.T) {
	addr, dir := tlsAgentCLI(t)
	ca, cert, key := filepath.Join(dir, "conclave-agent-ca.pem"), filepath.Join(dir, "ops.pem"), filepath.Join(dir, "ops-key.pem")
	envAll := map[string]string{"CONCLAVE_ADDR": addr, "CONCLAVE_CACERT": ca, "CONCLAVE_CLIENT_CERT": cert, "CONCLAVE_CLIENT_KEY": key}

	if code, out, errOut := runCLI(t, envAll, "kv", "put", "k", "v"); code != 0 || errOut != "" {
		t.Fatalf("kv put with the env: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut := runCLI(t, map[string]string{"CONCLAVE_ADDR": addr}, "kv", "get", "k", "--ca-file", ca, "--cert-file", cert, "--key-file", key)
	if code != 0 || out != "v\n" {
		t.Fatalf("kv get with the flags: exit %d, %q %q", code, out, errOut)
	}

	strangerDir := t.TempDir()
	mustRun(t, "tls", "ca", "create", "--dir", strangerDir)
	mustRun(t, "tls", "cert", "create", "--client", "ops", "--dir", strangerDir)
	tests := map[string]struct {
		args []string
		want string
	}{
		"plain text":            {nil, "it may require TLS — set --ca-file"},
		"no client certificate": {[]string{"--ca-file", ca}, "the agent requires a client certificate — set --cert-file and --key-file"},
		"another CA's client": {[]string{"--ca-file", ca, "--cert-file", filepath.Join(strangerDir, "ops.pem"), "--key-file", filepath.Join(strangerDir, "ops-key.pem")},
			"not signed by the cluster CA"},
		"wrong CA":           {[]string{"--ca-file", filepath.Join(strangerDir, "conclave-agent-ca.pem")}, "signed by an unknown authority — set --ca-file"},
		"cert without a CA":  {[]string{"--cert-file", cert, "--key-file", key}, "--cert-file and --key-file need --ca-file"},
		"cert without a key": {[]string{"--ca-file", ca, "--cert-file", cert}, "--cert-file and --key-file: set both or neither"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"members", "--addr", addr, "--timeout", "3s"}, tc.args...)
			code, _, errOut := runCLI(t, nil, args...)
			if code != 1 || !strings.Contains(errOut, tc.want) || !e2eOneLine(errOut) {
				t.Fatalf("exit %d, stderr %q, want one line with %q", code, errOut, tc.want)
			}
		})
	}

	// Verbs that hold a stream (lock, name, pg) explain the same way.
	for _, args := range [][]string{
		{"lock", "acquire", "l", "--hold", "1s"},
		{"pg", "join", "g"},
	} {
		code, _, errOut := runCLI(t, nil, append(args, "--addr", addr, "--ca-file", ca, "--timeout", "3s")...)
		if code != 1 || !strings.Contains(errOut, "the agent requires a client certificate") || !e2eOneLine(errOut) {
			t.Fatalf("%v without a client certificate: exit %d, stderr %q", args, code, errOut)
		}
	}

	// A TLS client against a plain agent.
	plain := newCLI(t)
	code, _, errOut = runCLI(t, nil, "members", "--addr", plain.addr, "--ca-file", ca)
	if code != 1 || !strings.Contains(errOut, "the agent does not speak TLS") || !e2eOneLine(errOut) {
		t.Fatalf("TLS against plain: exit %d, stderr %q", code, errOut)
	}
}

// TestAgentTLSFilesFailFast: an agent whose tls files cannot be read stops
// before its node starts, naming the file.
func TestAgentTLSFilesFailFast(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "tls", "ca", "create", "--dir", dir)
	cfgPath := filepath.Join(dir, "agent.yaml")
	missing := filepath.Join(dir, "node-1.pem")
	yaml := "cluster:\n  enabled: false\n  name: node-1\n  data_dir: " + filepath.Join(dir, "data") +
		"\napi:\n  grpc_addr: 127.0.0.1:0\n  http_addr: 127.0.0.1:0\ntls:\n  ca_file: " + filepath.Join(dir, "conclave-agent-ca.pem") +
		"\n  cert_file: " + missing + "\n  key_file: " + filepath.Join(dir, "node-1-key.pem") + "\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	started := false
	e := env{
		lookup: func(string) (string, bool) { return "", false },
		newNode: func(config.Config, ...cluster.Option) (agentNode, api.Services, error) {
			started = true
			n := newFakeNode("node-1")
			return n, n.services(), nil
		},
	}
	var out, errOut syncBuffer
	code := run(context.Background(), []string{"agent", "--config", cfgPath}, e, strings.NewReader(""), &out, &errOut)
	if code != 1 || started || !strings.Contains(errOut.String(), "agent: tls:") || !strings.Contains(errOut.String(), missing) {
		t.Fatalf("exit %d, node started %v, stderr %q", code, started, errOut.String())
	}
}
