package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The keyring file (Config.KeyringFile) is a JSON list of base64 keys, the
// primary first, like Serf's local.keyring:
//
//	["pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", "cg8StVXbQJ0gPvMd9o7yrg=="]
//
// It is written atomically (a temporary file, fsync, rename, fsync of the
// directory) with mode 0600 on every keyring change, and read once at New,
// where it wins over Config.Keys.

// readKeyringFile returns the keys in path, or ok=false if there is no
// such file.
func readKeyringFile(path string) (keys [][]byte, ok bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, false, fmt.Errorf("%w: %s: want a JSON list of base64 keys: %w", ErrKeyringFile, path, err)
	}
	if len(list) == 0 {
		return nil, false, fmt.Errorf("%w: %s: holds no key (delete it to start from the configured secret)", ErrKeyringFile, path)
	}
	for i, s := range list {
		k, err := parseKey(fmt.Sprintf("keys[%d]", i), s)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: %w", ErrKeyringFile, path, err)
		}
		if indexKey(keys, k) >= 0 {
			return nil, false, fmt.Errorf("%w: %s: keys[%d]: listed twice", ErrKeyringFile, path, i)
		}
		keys = append(keys, k)
	}
	return keys, true, nil
}

// writeKeyringFile replaces path with keys, atomically and durably.
func writeKeyringFile(path string, keys [][]byte) error {
	list := make([]string, len(keys))
	for i, k := range keys {
		list[i] = encodeKey(k)
	}
	data, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod says so in the code.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringFile, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename is durable once the directory is
		_ = d.Close()
	}
	return nil
}

// startKeys picks the keyring New starts with: the keyring file's when it
// exists (logged, since it overrides the configured secret, as Consul does
// with Serf's local.keyring), otherwise Config.Keys, which are then written
// to the file so later rotations have a file to update.
func (m *Membership) startKeys() ([][]byte, error) {
	path := m.cfg.KeyringFile
	if path == "" {
		return m.cfg.Keys, nil
	}
	keys, ok, err := readKeyringFile(path)
	if err != nil {
		return nil, err
	}
	if ok {
		ev := m.log.Info()
		if len(m.cfg.Keys) > 0 && indexKey(keys, m.cfg.Keys[0]) < 0 {
			ev = m.log.Warn().Bool("configured_key_ignored", true)
		}
		ev.Str("file", path).Int("keys", len(keys)).
			Msg("gossip keyring loaded from file: it wins over the configured secret")
		return keys, nil
	}
	if len(m.cfg.Keys) == 0 {
		return nil, nil
	}
	if err := writeKeyringFile(path, m.cfg.Keys); err != nil {
		return nil, err
	}
	m.log.Info().Str("file", path).Msg("gossip keyring file written from the configured secret")
	return m.cfg.Keys, nil
}
