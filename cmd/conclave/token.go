package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api/client"
)

// maxTokenFile bounds what a token file may hold: a secret ID is a UUID,
// so anything near this is the wrong file.
const maxTokenFile = 4096

// tokenFlags are the client verbs' ACL token settings: --token or
// --token-file, with defaults from CONCLAVE_TOKEN and CONCLAVE_TOKEN_FILE.
// The first one set wins, in that order, so a flag always beats the
// environment and a secret beats a file on the same level.
type tokenFlags struct {
	token, file       string
	envToken, envFile string
	fs                *pflag.FlagSet
}

// register defines --token and --token-file on fs and reads their
// environment variables from e.
func (f *tokenFlags) register(fs *pflag.FlagSet, e env) {
	f.fs = fs
	f.envToken, _ = e.lookup("CONCLAVE_TOKEN")
	f.envFile, _ = e.lookup("CONCLAVE_TOKEN_FILE")
	fs.StringVar(&f.token, "token", "", "ACL token's secret ID, sent with every call (env CONCLAVE_TOKEN)")
	fs.StringVar(&f.file, "token-file", "", "file holding the ACL token's secret ID; keeps it out of ps and the shell history (env CONCLAVE_TOKEN_FILE)")
}

// secret returns the token the settings give, with where it came from
// (for error lines; never the secret itself), or "" for none.
func (f *tokenFlags) secret() (secret, source string, err error) {
	changed := func(name string) bool { return f.fs != nil && f.fs.Changed(name) }
	switch {
	case changed("token"):
		if f.token == "" {
			return "", "", errors.New("invalid --token: empty (give the token's secret ID, or leave the flag out)")
		}
		return f.token, "--token", checkSecret("--token", f.token)
	case changed("token-file"):
		return readTokenFile("--token-file", f.file)
	case f.envToken != "":
		return f.envToken, "CONCLAVE_TOKEN", checkSecret("CONCLAVE_TOKEN", f.envToken)
	case f.envFile != "":
		return readTokenFile("CONCLAVE_TOKEN_FILE", f.envFile)
	}
	return "", "", nil
}

// options returns the client option that presents the token, if any.
func (f *tokenFlags) options() ([]client.Option, error) {
	s, _, err := f.secret()
	if err != nil || s == "" {
		return nil, err
	}
	return []client.Option{client.WithToken(s)}, nil
}

// given reports whether any token setting is present, right or wrong.
func (f *tokenFlags) given() bool {
	return (f.fs != nil && (f.fs.Changed("token") || f.fs.Changed("token-file"))) || f.envToken != "" || f.envFile != ""
}

// readTokenFile reads a secret from path, trimmed of surrounding
// whitespace (a trailing newline above all); name is the flag or variable
// that gave the path, for the error line.
func readTokenFile(name, path string) (string, string, error) {
	if path == "" {
		return "", "", fmt.Errorf("invalid %s: empty path", name)
	}
	fh, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", name, err)
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, maxTokenFile+1))
	if err != nil {
		return "", "", fmt.Errorf("%s: read %s: %w", name, path, err)
	}
	if len(raw) > maxTokenFile {
		return "", "", fmt.Errorf("%s: %s holds more than %d bytes; want just the token's secret ID", name, path, maxTokenFile)
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "", "", fmt.Errorf("%s: %s is empty; want the token's secret ID", name, path)
	}
	source := name + " " + path
	return s, source, checkSecret(source, s)
}

// checkSecret refuses a secret that cannot go in a gRPC header (the SDK
// would refuse it too, without saying where it came from). It never
// echoes the secret.
func checkSecret(source, s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%s: the token holds a space, control or non-ASCII byte at offset %d; a secret ID is printable ASCII", source, i)
		}
	}
	return nil
}

// explainToken adds what to set to an Unauthenticated failure of a call
// that presented no token: with ACLs on, that is the usual first
// mistake. A call that did present one is left as the agent answered it
// (the token is unknown or expired: a hint would only guess).
func (f *tokenFlags) explainToken(err error) error {
	if err == nil || f.given() || status.Code(err) != codes.Unauthenticated {
		return err
	}
	return fmt.Errorf("%w; give a token with --token or --token-file (or CONCLAVE_TOKEN, CONCLAVE_TOKEN_FILE)", err)
}
