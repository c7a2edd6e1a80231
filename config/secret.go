package config

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
)

// GossipKey resolves the gossip encryption key from membership.secret or
// membership.secret_file: nil, nil when neither is set (gossip in clear).
// Setting both is an error. Errors wrap ErrInvalid (and, for the file, the
// *fs.PathError) and never contain the key material.
func (c Config) GossipKey() ([]byte, error) {
	key, e := c.gossipKey()
	if e != nil {
		return nil, e // not a typed nil *Error inside a non-nil error
	}
	return key, nil
}

func (c Config) gossipKey() ([]byte, *Error) {
	m := c.Cluster.Membership
	switch {
	case m.Secret != "" && m.SecretFile != "":
		return nil, &Error{Key: "cluster.membership.secret", Problem: "set either secret or secret_file, not both"}
	case m.Secret != "":
		key, problem, err := decodeKey(m.Secret)
		if problem != "" {
			return nil, &Error{Key: "cluster.membership.secret", Problem: problem, Err: err}
		}
		return key, nil
	case m.SecretFile != "":
		const k = "cluster.membership.secret_file"
		data, err := os.ReadFile(m.SecretFile)
		if err != nil {
			return nil, &Error{Key: k, Problem: err.Error(), Err: err}
		}
		// Trim so "keygen > file" with its trailing newline just works.
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			return nil, &Error{Key: k, Problem: fmt.Sprintf("%s: file is empty, want a base64 key", m.SecretFile)}
		}
		key, problem, err := decodeKey(string(data))
		if problem != "" {
			return nil, &Error{Key: k, Problem: m.SecretFile + ": " + problem, Err: err}
		}
		return key, nil
	}
	return nil, nil
}

// decodeKey decodes standard base64 (what `consul keygen` and `openssl rand
// -base64 32` print) and checks the length memberlist's AES-GCM accepts.
// The problem text never quotes the input: it is a secret.
func decodeKey(s string) ([]byte, string, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, "not valid base64: " + err.Error(), err
	}
	switch len(key) {
	case 16, 24, 32:
		return key, "", nil
	}
	return nil, fmt.Sprintf("key is %d bytes after base64 decoding, want 16, 24 or 32", len(key)), nil
}
