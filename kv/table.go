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

// DeletePrefix removes every key that starts with prefix, but never one
// under the reserved prefix (no KV command writes there; this keeps a
// prefix like "_" from reaching it), and returns how many it removed.
func (t *Table) DeletePrefix(prefix string) int {
	var victims []*Entry
	t.t.AscendGreaterOrEqual(&Entry{Key: prefix}, func(e *Entry) bool {
		if !strings.HasPrefix(e.Key, prefix) {
			return false
		}
		if !strings.HasPrefix(e.Key, reservedKey) {
			victims = append(victims, e)
		}
		return true
	})
	for _, e := range victims {
		t.t.Delete(e)
	}
	return len(victims)
}

// TxnResult is what a transaction did. When a compare failed, Succeeded is
// false, Failed is the index of the first that failed and Actual the
// version its key was at (0: absent), and nothing changed. Otherwise
// Results has one entry per op, in order, and Index is the entry's Raft
// index (every put's new version).
type TxnResult struct {
	Succeeded bool
	Failed    int
	Actual    uint64
	Index     uint64
	Results   []OpResult
}

// OpResult is what one op of a transaction did: the entry a put stored,
// or whether a delete found its key.
type OpResult struct {
	Entry   Entry // a put's; Key alone for a delete
	Delete  bool  // the op was a delete
	Deleted bool  // a delete found the key and removed it
}

// Txn applies ops at index if every compare holds, and nothing otherwise.
// The command was validated before (keys, values, limits, no key written
// twice), so no op can fail once the compares pass: all of them apply.
func (t *Table) Txn(index uint64, compares []Compare, ops []Op) TxnResult {
	for i, c := range compares {
		var v uint64
		if e, ok := t.Get(c.Key); ok {
			v = e.Version
		}
		if v != c.Version {
			return TxnResult{Failed: i, Actual: v}
		}
	}
	res := TxnResult{Succeeded: true, Index: index, Results: make([]OpResult, 0, len(ops))}
	for _, o := range ops {
		if o.Delete {
			_, found := t.t.Delete(&Entry{Key: o.Key})
			res.Results = append(res.Results, OpResult{Entry: Entry{Key: o.Key}, Delete: true, Deleted: found})
			continue
		}
		res.Results = append(res.Results, OpResult{Entry: *t.Put(index, o.Key, o.Value)})
	}
	return res
}
