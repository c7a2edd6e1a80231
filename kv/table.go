package kv

import (
	"bytes"
	"strings"

	"github.com/google/btree"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The table's refusals: they cross Raft as wire codes NotFound and
// Mismatch and match wire.ErrNotFound and wire.ErrMismatch.
func notFound(key string) error {
	return wire.Refuse(wire.NotFound, wire.ErrNotFound, "key %q does not exist", key)
}

func mismatch(format string, args ...any) error {
	return wire.Refuse(wire.Mismatch, wire.ErrMismatch, format, args...)
}

// Entry is one key.
type Entry struct {
	Key         string
	Value       []byte
	Version     uint64 // Raft index of the last write
	CreateIndex uint64 // Raft index of the write that created the key
}

func less(a, b *Entry) bool { return a.Key < b.Key }

// Table is the KV state. It is not safe for concurrent use: Replicated
// serialises writes and guards reads with its lock.
type Table struct {
	t *btree.BTreeG[*Entry]
}

// New returns an empty table.
func New() *Table { return &Table{t: btree.NewG(32, less)} }

// Len is the number of keys.
func (t *Table) Len() int { return t.t.Len() }

// Get returns the entry for key. The entry must not be modified.
func (t *Table) Get(key string) (*Entry, bool) {
	return t.t.Get(&Entry{Key: key})
}

// List returns up to limit entries (0 = all) whose key has the prefix, in
// key order.
func (t *Table) List(prefix string, limit int) []*Entry {
	var out []*Entry
	t.t.AscendGreaterOrEqual(&Entry{Key: prefix}, func(e *Entry) bool {
		if !strings.HasPrefix(e.Key, prefix) {
			return false
		}
		out = append(out, e)
		return limit <= 0 || len(out) < limit
	})
	return out
}

// Put writes key at index unconditionally.
func (t *Table) Put(index uint64, key string, value []byte) *Entry {
	e := &Entry{Key: key, Value: bytes.Clone(value), Version: index, CreateIndex: index}
	if old, ok := t.t.Get(e); ok {
		e.CreateIndex = old.CreateIndex
	}
	t.t.ReplaceOrInsert(e)
	return e
}

// CompareAndSet writes key at index only if its version is version;
// version 0 means "only if absent".
func (t *Table) CompareAndSet(index uint64, key string, value []byte, version uint64) (*Entry, error) {
	old, ok := t.t.Get(&Entry{Key: key})
	switch {
	case !ok && version != 0:
		return nil, mismatch("key %q does not exist, want version %d", key, version)
	case ok && old.Version != version:
		return nil, mismatch("key %q is at version %d, want %d", key, old.Version, version)
	}
	return t.Put(index, key, value), nil
}

// Delete removes key; with version > 0 only if the key is at that version.
func (t *Table) Delete(key string, version uint64) (*Entry, error) {
	old, ok := t.t.Get(&Entry{Key: key})
	if !ok {
		return nil, notFound(key)
	}
	if version != 0 && old.Version != version {
		return nil, mismatch("key %q is at version %d, want %d", key, old.Version, version)
	}
	t.t.Delete(old)
	return old, nil
}

// Clone returns a copy-on-write snapshot of the table in O(1). Clone must
// not run concurrently with writes; afterwards the clone may be read while
// the original is written (the btree copies shared nodes on write).
func (t *Table) Clone() *Table { return &Table{t: t.t.Clone()} }

// Ascend calls f for every entry in key order until f returns false.
func (t *Table) Ascend(f func(*Entry) bool) { t.t.Ascend(f) }

// Insert puts e as it is (used by snapshot restore).
func (t *Table) Insert(e *Entry) { t.t.ReplaceOrInsert(e) }
