package gossip

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// KeyringState is this node's gossip keyring as base64 keys (standard
// encoding, what ParseKey reads and `conclave keyring generate` prints).
type KeyringState struct {
	// Primary encrypts everything this node sends.
	Primary string
	// Keys are every installed key, the primary first; any of them
	// decrypts what this node receives.
	Keys []string
}

// ParseKey decodes a base64 gossip key and checks its length (16, 24 or 32
// bytes: AES-128, -192 or -256). Errors wrap ErrInvalidKey, name the field
// "key" and never quote the input: it is a secret.
func ParseKey(s string) ([]byte, error) {
	return parseKey("key", s)
}

func parseKey(field, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: %s: must not be empty", ErrInvalidKey, field)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not valid base64: %w", ErrInvalidKey, field, err)
	}
	if memberlist.ValidateKey(key) != nil {
		return nil, fmt.Errorf("%w: %s: %d bytes after base64 decoding, want 16, 24 or 32", ErrInvalidKey, field, len(key))
	}
	return key, nil
}

func encodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// Encrypted reports whether gossip encryption is on. It is decided when the
// node starts (memberlist cannot switch encryption on or off at runtime),
// so the keyring methods refuse to work when it is false.
func (m *Membership) Encrypted() bool { return m.keyring != nil }

// ListKeys returns the keys installed on this node.
func (m *Membership) ListKeys() (KeyringState, error) {
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	if err := m.keyringUsable(); err != nil {
		return KeyringState{}, err
	}
	return stateOf(m.keyring.GetKeys()), nil
}

// InstallKey adds key to the keyring as a secondary key: this node then
// decrypts messages sealed with it, but still encrypts with the primary.
// Installing a key that is already there changes nothing. The new keyring
// is written to Config.KeyringFile before it takes effect; if that fails
// nothing changes.
func (m *Membership) InstallKey(key string) error {
	k, err := ParseKey(key)
	if err != nil {
		return err
	}
	return m.changeKeyring("install", func(keys [][]byte) ([][]byte, error) {
		if indexKey(keys, k) >= 0 {
			return keys, nil
		}
		return append(keys, k), nil
	})
}

// UseKey makes an installed key the primary: this node encrypts with it
// from now on. Install it on every node first, or nodes without it cannot
// read this node's gossip. A key that is not installed is refused with
// ErrKeyNotInstalled.
func (m *Membership) UseKey(key string) error {
	k, err := ParseKey(key)
	if err != nil {
		return err
	}
	return m.changeKeyring("use", func(keys [][]byte) ([][]byte, error) {
		i := indexKey(keys, k)
		if i < 0 {
			return nil, fmt.Errorf("%w: key: install it before using it", ErrKeyNotInstalled)
		}
		out := [][]byte{keys[i]}
		out = append(out, keys[:i]...)
		return append(out, keys[i+1:]...), nil
	})
}

// RemoveKey removes a secondary key. The primary is refused with
// ErrRemovePrimary (use another key first); a key that is not installed
// changes nothing, so a repeated cluster-wide remove succeeds.
func (m *Membership) RemoveKey(key string) error {
	k, err := ParseKey(key)
	if err != nil {
		return err
	}
	return m.changeKeyring("remove", func(keys [][]byte) ([][]byte, error) {
		i := indexKey(keys, k)
		switch {
		case i < 0:
			return keys, nil
		case i == 0:
			return nil, fmt.Errorf("%w: key: it is this node's primary key; use another key first", ErrRemovePrimary)
		}
		out := append([][]byte(nil), keys[:i]...)
		return append(out, keys[i+1:]...), nil
	})
}

// changeKeyring computes the next keyring from the current one (primary
// first), persists it, then installs it in memberlist. keyMu makes the
// file and memberlist's keyring change together.
func (m *Membership) changeKeyring(op string, next func(keys [][]byte) ([][]byte, error)) error {
	m.lifeMu.RLock()
	defer m.lifeMu.RUnlock()
	if m.shut {
		return ErrShutdown
	}
	m.keyMu.Lock()
	defer m.keyMu.Unlock()
	if err := m.keyringUsable(); err != nil {
		return err
	}
	cur := m.keyring.GetKeys()
	keys, err := next(cur)
	if err != nil {
		return err
	}
	if equalKeys(cur, keys) {
		return nil
	}
	if m.cfg.KeyringFile != "" {
		if err := writeKeyringFile(m.cfg.KeyringFile, keys); err != nil {
			return err
		}
	}
	if err := m.applyKeys(cur, keys); err != nil {
		return fmt.Errorf("gossip: keyring %s: %w", op, err)
	}
	m.log.Info().Str("op", op).Int("keys", len(keys)).Msg("gossip keyring changed")
	return nil
}

// applyKeys moves memberlist's keyring from cur to keys: add the new ones,
// switch the primary, then drop the old ones, so at every step each key of
// either set that can still arrive is installed.
func (m *Membership) applyKeys(cur, keys [][]byte) error {
	for _, k := range keys {
		if indexKey(cur, k) < 0 {
			if err := m.keyring.AddKey(k); err != nil {
				return err
			}
		}
	}
	if err := m.keyring.UseKey(keys[0]); err != nil {
		return err
	}
	for _, k := range cur {
		if indexKey(keys, k) < 0 {
			if err := m.keyring.RemoveKey(k); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Membership) keyringUsable() error {
	if m.keyring == nil {
		return ErrEncryptionOff
	}
	return nil
}

func stateOf(keys [][]byte) KeyringState {
	st := KeyringState{Keys: make([]string, len(keys))}
	for i, k := range keys {
		st.Keys[i] = encodeKey(k)
	}
	if len(keys) > 0 {
		st.Primary = st.Keys[0]
	}
	return st
}

func indexKey(keys [][]byte, k []byte) int {
	for i, x := range keys {
		if bytes.Equal(x, k) {
			return i
		}
	}
	return -1
}

func equalKeys(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
