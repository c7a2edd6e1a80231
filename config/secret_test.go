package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGossipKey(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "gossip.key")
	// 32 bytes, with the newline a key generator leaves and some spaces.
	if err := os.WriteFile(keyFile, []byte("  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty.key")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.key")

	tests := map[string]struct {
		secret, secretFile string
		wantLen            int
		wantErr            string
		wantIs             error
	}{
		"neither":     {wantLen: 0},
		"inline 16":   {secret: "AAECAwQFBgcICQoLDA0ODw==", wantLen: 16},
		"from a file": {secretFile: keyFile, wantLen: 32},
		"both": {
			secret: "AAECAwQFBgcICQoLDA0ODw==", secretFile: keyFile,
			wantErr: "cluster.membership.secret: set either secret or secret_file, not both",
		},
		"malformed inline": {
			secret:  "AAEC!",
			wantErr: "cluster.membership.secret: not valid base64: illegal base64 data at input byte 4",
		},
		"wrong length inline": {
			secret:  "AAECAwQFBgcICQoLDA0ODxAR", // 18 bytes
			wantErr: "cluster.membership.secret: key is 18 bytes after base64 decoding, want 16, 24 or 32",
		},
		"missing file": {
			secretFile: missing,
			wantErr:    "cluster.membership.secret_file: open " + missing + ": no such file or directory",
			wantIs:     fs.ErrNotExist,
		},
		"empty file": {
			secretFile: emptyFile,
			wantErr:    "cluster.membership.secret_file: " + emptyFile + ": file is empty, want a base64 key",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.Cluster.Membership.Secret = tc.secret
			c.Cluster.Membership.SecretFile = tc.secretFile
			key, err := c.GossipKey()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("GossipKey() error = %v, want %q", err, tc.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Error("error does not wrap ErrInvalid")
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("error does not wrap %v", tc.wantIs)
				}
				if key != nil {
					t.Errorf("key = %x on error", key)
				}
				return
			}
			if err != nil {
				t.Fatalf("GossipKey() = %v", err)
			}
			if len(key) != tc.wantLen {
				t.Fatalf("key is %d bytes, want %d", len(key), tc.wantLen)
			}
			for i, b := range key {
				if b != byte(i) {
					t.Fatalf("key = %x, want bytes 0, 1, 2, ...", key)
				}
			}
		})
	}
}

// TestSecretNotInErrors: a near-miss secret must not end up in logs via the
// error message.
func TestSecretNotInErrors(t *testing.T) {
	const secret = "c2VjcmV0c2VjcmV0c2VjcmV0" // 18 bytes: wrong length, valid base64
	c := Default()
	c.Cluster.Membership.Secret = secret
	for name, err := range map[string]error{"Validate": c.Validate(), "GossipKey": func() error { _, err := c.GossipKey(); return err }()} {
		if err == nil {
			t.Fatalf("%s accepted an 18-byte key", name)
		}
		if strings.Contains(err.Error(), secret) || bytes.Contains([]byte(err.Error()), []byte("secretsecret")) {
			t.Errorf("%s error leaks the secret: %v", name, err)
		}
	}
}
