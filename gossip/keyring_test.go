package gossip

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

func TestParseKey(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantErr string // "" = valid
	}{
		"16 bytes":   {b64(testKey(1, 16)), ""},
		"24 bytes":   {b64(testKey(1, 24)), ""},
		"32 bytes":   {b64(testKey(1, 32)), ""},
		"empty":      {"", "key: must not be empty"},
		"bad base64": {"not*base64!", "key: not valid base64"},
		"20 bytes":   {b64(testKey(1, 20)), "key: 20 bytes after base64 decoding, want 16, 24 or 32"},
		"url base64": {strings.NewReplacer("+", "-", "/", "_").Replace(b64(testKey(0xfb, 32))), "key: not valid base64"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, err := ParseKey(tc.in)
			if tc.wantErr == "" {
				if err != nil || len(k) == 0 {
					t.Fatalf("ParseKey: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrInvalidKey with %q", err, tc.wantErr)
			}
			if tc.in != "" && strings.Contains(err.Error(), tc.in) {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
}

func TestKeyringRefusesWithoutEncryption(t *testing.T) {
	a := startNode(t, "a", nodeOpt{})
	if a.Encrypted() {
		t.Fatal("Encrypted() with no key")
	}
	if _, err := a.ListKeys(); !errors.Is(err, ErrEncryptionOff) {
		t.Fatalf("ListKeys: %v, want ErrEncryptionOff", err)
	}
	if err := a.InstallKey(b64(testKey(1, 32))); !errors.Is(err, ErrEncryptionOff) {
		t.Fatalf("InstallKey: %v, want ErrEncryptionOff", err)
	}
	if !strings.Contains(ErrEncryptionOff.Error(), "only be turned on at start") {
		t.Fatalf("ErrEncryptionOff does not say why: %v", ErrEncryptionOff)
	}
}

// TestKeyringRotation rotates the key of two running members (install
// the new key everywhere, use it everywhere, remove the old one) and
// checks that neither loses the other and that a third node that only
// knows the new key can join.
func TestKeyringRotation(t *testing.T) {
	oldKey, newKey := testKey(1, 32), testKey(2, 16)
	dir := t.TempDir()
	withKey := func(name string, k []byte) func(*Config) {
		return func(c *Config) {
			c.Keys = [][]byte{k}
			c.KeyringFile = filepath.Join(dir, name, "gossip.keyring")
		}
	}
	a := startNode(t, "a", nodeOpt{cfg: withKey("a", oldKey)})
	b := startNode(t, "b", nodeOpt{cfg: func(c *Config) { withKey("b", oldKey)(c); c.JoinAddrs = []string{a.LocalAddr()} }})
	run(t, a)
	run(t, b)
	together := func() bool { return sees(a, "b", StateAlive) && sees(b, "a", StateAlive) }
	waitFor(t, converge, "a and b see each other", together)
	nodes := []*Membership{a, b}

	for _, n := range nodes {
		if err := n.InstallKey(b64(newKey)); err != nil {
			t.Fatalf("%s InstallKey: %v", n.LocalName(), err)
		}
		if err := n.InstallKey(b64(newKey)); err != nil { // idempotent
			t.Fatalf("%s InstallKey again: %v", n.LocalName(), err)
		}
	}
	st, err := a.ListKeys()
	if err != nil || st.Primary != b64(oldKey) || len(st.Keys) != 2 || st.Keys[1] != b64(newKey) {
		t.Fatalf("after install: %+v, %v", st, err)
	}
	if err := a.RemoveKey(b64(oldKey)); !errors.Is(err, ErrRemovePrimary) || !strings.Contains(err.Error(), "key:") {
		t.Fatalf("RemoveKey(primary): %v, want ErrRemovePrimary naming key", err)
	}
	if err := a.UseKey(b64(testKey(3, 32))); !errors.Is(err, ErrKeyNotInstalled) {
		t.Fatalf("UseKey(unknown): %v, want ErrKeyNotInstalled", err)
	}
	if err := a.InstallKey("short"); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("InstallKey(bad): %v, want ErrInvalidKey", err)
	}
	for _, n := range nodes {
		if err := n.UseKey(b64(newKey)); err != nil {
			t.Fatalf("%s UseKey: %v", n.LocalName(), err)
		}
	}
	for _, n := range nodes {
		if err := n.RemoveKey(b64(oldKey)); err != nil {
			t.Fatalf("%s RemoveKey: %v", n.LocalName(), err)
		}
		if err := n.RemoveKey(b64(oldKey)); err != nil { // idempotent
			t.Fatalf("%s RemoveKey again: %v", n.LocalName(), err)
		}
		st, err := n.ListKeys()
		if err != nil || st.Primary != b64(newKey) || len(st.Keys) != 1 {
			t.Fatalf("%s after rotation: %+v, %v", n.LocalName(), st, err)
		}
	}
	if !together() {
		t.Fatal("a member lost the other during rotation")
	}

	// Only the new key gets in now; the old one does not.
	c := startNode(t, "c", nodeOpt{cfg: func(c *Config) { c.Keys = [][]byte{newKey}; c.JoinAddrs = []string{a.LocalAddr()} }})
	run(t, c)
	waitFor(t, converge, "c joins with the new key", func() bool { return sees(a, "c", StateAlive) && sees(c, "b", StateAlive) })
	before := a.Stats().RejectedMessages
	d := startNode(t, "d", nodeOpt{cfg: func(c *Config) { c.Keys = [][]byte{oldKey}; c.JoinAddrs = []string{a.LocalAddr()} }})
	run(t, d)
	waitFor(t, converge, "a refuses d's old-key gossip", func() bool { return a.Stats().RejectedMessages > before })
	if sees(a, "d", StateAlive) {
		t.Fatal("a admitted d, which only has the removed key")
	}
	if !together() {
		t.Fatal("a member lost the other after rotation")
	}
}

func TestKeyringFilePersistsAndWins(t *testing.T) {
	cfgKey, rotated := testKey(1, 32), testKey(2, 32)
	file := filepath.Join(t.TempDir(), "_sys", "gossip.keyring")
	withFile := func(c *Config) { c.Keys = [][]byte{cfgKey}; c.KeyringFile = file }

	a := startNode(t, "a", nodeOpt{cfg: withFile})
	assertFile(t, file, b64(cfgKey))
	if err := a.InstallKey(b64(rotated)); err != nil {
		t.Fatal(err)
	}
	if err := a.UseKey(b64(rotated)); err != nil {
		t.Fatal(err)
	}
	assertFile(t, file, b64(rotated), b64(cfgKey))
	if err := a.RemoveKey(b64(cfgKey)); err != nil {
		t.Fatal(err)
	}
	assertFile(t, file, b64(rotated))
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// Restarted with the old configured secret: the file wins.
	a2 := startNode(t, "a", nodeOpt{cfg: withFile})
	st, err := a2.ListKeys()
	if err != nil || st.Primary != b64(rotated) || len(st.Keys) != 1 {
		t.Fatalf("after restart: %+v, %v; want the persisted key only", st, err)
	}
	_ = a2.Shutdown()

	// A file alone turns encryption on, even with no configured key.
	a3 := startNode(t, "a", nodeOpt{cfg: func(c *Config) { c.KeyringFile = file }})
	if !a3.Encrypted() {
		t.Fatal("keyring file present but encryption is off")
	}
}

func TestKeyringFileRefused(t *testing.T) {
	tests := map[string]struct {
		content string
		want    string
	}{
		"not json":  {"pUqJrVyVRj5", "want a JSON list of base64 keys"},
		"empty":     {"[]", "holds no key"},
		"bad key":   {`["` + b64(testKey(1, 32)) + `", "abc"]`, "keys[1]: "},
		"short key": {`["` + b64(testKey(1, 10)) + `"]`, "keys[0]: 10 bytes"},
		"twice":     {`["` + b64(testKey(1, 16)) + `", "` + b64(testKey(1, 16)) + `"]`, "keys[1]: listed twice"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "gossip.keyring")
			if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := DefaultLocalConfig()
			cfg.Name = "a"
			cfg.KeyringFile = file
			m, err := New(cfg, Meta{})
			if err == nil {
				_ = m.Shutdown()
				t.Fatal("New accepted a bad keyring file")
			}
			if !errors.Is(err, ErrKeyringFile) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), file) {
				t.Fatalf("err = %v, want ErrKeyringFile naming %s and %q", err, file, tc.want)
			}
		})
	}
}

// assertFile checks the keyring file holds want, in order, with mode 0600.
func assertFile(t *testing.T, path string, want ...string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s mode %v, want 0600", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s holds %v, want %v", path, got, want)
	}
	if left, _ := filepath.Glob(path + ".tmp-*"); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
