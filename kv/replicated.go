package kv

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Replicated is the KV table as the FSM envelope drives it (cluster.Table):
// Apply, Snapshot and Restore from Raft's FSM goroutine, Query and Screen
// from request goroutines, concurrently.
type Replicated struct {
	mu sync.RWMutex
	t  *Table
	// For watches: changed is closed and replaced at every write that
	// changed the table; lastWrite and lastDelete are the indexes of the
	// last such write and the last that may have deleted a key.
	changed               chan struct{}
	lastWrite, lastDelete uint64
}

// NewReplicated returns an empty replicated table.
func NewReplicated() *Replicated { return &Replicated{t: New(), changed: make(chan struct{})} }

// wrote records a write that changed the table at index; call with mu held.
func (r *Replicated) wrote(index uint64, deleted bool) {
	r.lastWrite = max(r.lastWrite, index)
	if deleted {
		r.lastDelete = max(r.lastDelete, index)
	}
	close(r.changed)
	r.changed = make(chan struct{})
}

// Changed is closed at the next write that changes the local replica.
func (r *Replicated) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

// watchList is a watch's look at the local replica: the entries with
// prefix, the index of the last write and of the last that may have
// deleted a key, all at one moment.
func (r *Replicated) watchList(prefix string) (es []Entry, lastWrite, lastDelete uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, e := range r.t.List(prefix, 0) {
		es = append(es, *e)
	}
	return es, r.lastWrite, r.lastDelete
}

// Apply applies a write; a refusal by the table's state (not found,
// version mismatch) is the result, a malformed command the error.
func (r *Replicated) Apply(index uint64, op byte, d *wire.Decoder) ([]byte, error) {
	c, err := unmarshal(op, d)
	if err != nil {
		return nil, err
	}
	switch c.op {
	case opDeletePrefix:
		r.mu.Lock()
		n := r.t.DeletePrefix(c.Key)
		if n > 0 {
			r.wrote(index, true)
		}
		r.mu.Unlock()
		res := wire.Result()
		res.Uvarint(uint64(n))
		return res.Data(), nil
	case opTxn:
		r.mu.Lock()
		tr := r.t.Txn(index, c.Compares, c.Ops)
		if tr.Succeeded {
			r.wrote(index, true)
		}
		r.mu.Unlock()
		res := wire.Result()
		encodeTxnResult(res, &tr)
		return res.Data(), nil
	}
	r.mu.Lock()
	var e *Entry
	switch c.op {
	case opPut:
		e = r.t.Put(index, c.Key, c.Value)
	case opCAS:
		e, err = r.t.CompareAndSet(index, c.Key, c.Value, c.Version)
	case opDelete:
		e, err = r.t.Delete(c.Key, c.Version)
	}
	if err == nil {
		r.wrote(index, c.op == opDelete)
	}
	r.mu.Unlock()
	if err != nil {
		return wire.Refusal(err), nil
	}
	res := wire.Result()
	encodeEntry(res, e)
	return res.Data(), nil
}

// Screen checks a write as Apply will.
func (r *Replicated) Screen(op byte, d *wire.Decoder) error {
	_, err := unmarshal(op, d)
	return err
}

// Query answers a get or a list from the local replica.
func (r *Replicated) Query(op byte, d *wire.Decoder) ([]byte, error) {
	res := wire.Result()
	switch op {
	case queryGet:
		key := d.String()
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed kv get", wire.ErrInvalid)
		}
		r.mu.RLock()
		e, ok := r.t.Get(key)
		if ok {
			res.Uvarint(1)
			encodeEntry(res, e)
		}
		r.mu.RUnlock()
		if !ok {
			return wire.Refusal(notFound(key)), nil
		}
	case queryList:
		prefix, limit := d.String(), d.Uvarint()
		if d.Done() != nil || limit > uint64(^uint(0)>>1) {
			return nil, fmt.Errorf("%w: malformed kv list", wire.ErrInvalid)
		}
		r.mu.RLock()
		es := r.t.List(prefix, int(limit))
		res.Uvarint(uint64(len(es)))
		for _, e := range es {
			encodeEntry(res, e)
		}
		r.mu.RUnlock()
	case queryWatch:
		prefix := d.String()
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed kv watch", wire.ErrInvalid)
		}
		es, lastWrite, lastDelete := r.watchList(prefix)
		res.Uvarint(lastWrite)
		res.Uvarint(lastDelete)
		res.Uvarint(uint64(len(es)))
		for i := range es {
			encodeEntry(res, &es[i])
		}
	default:
		return nil, fmt.Errorf("%w: unknown kv query %d", wire.ErrInvalid, op)
	}
	return res.Data(), nil
}

// Len is the number of keys in the local replica.
func (r *Replicated) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.t.Len()
}

// Snapshot takes an O(1) copy-on-write clone; the section it writes is the
// entry count, then each entry as a framed record, in key order.
func (r *Replicated) Snapshot() (func(io.Writer) error, error) {
	r.mu.Lock()
	c := r.t.Clone()
	r.mu.Unlock()
	return func(w io.Writer) error {
		var n [binary.MaxVarintLen64]byte
		if _, err := w.Write(n[:binary.PutUvarint(n[:], uint64(c.Len()))]); err != nil {
			return err
		}
		var werr error
		rec := wire.NewEncoder()
		c.Ascend(func(v *Entry) bool {
			rec = wire.NewEncoder()
			encodeEntry(rec, v)
			werr = wire.WriteFrame(w, rec.Data())
			return werr == nil
		})
		return werr
	}, nil
}

// Restore reads a section written by Snapshot into a new table.
func (r *Replicated) Restore(br *bufio.Reader) (func(), error) {
	t := New()
	if br != nil {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("kv: restore: %w", err)
		}
		for i := uint64(0); i < n; i++ {
			rec, err := wire.ReadFrame(br)
			if err != nil {
				return nil, fmt.Errorf("kv: restore entry %d: %w", i, err)
			}
			d := wire.NewDecoder(rec)
			e := decodeEntry(d)
			if err := d.Done(); err != nil {
				return nil, fmt.Errorf("kv: restore entry %d: %w", i, err)
			}
			t.Insert(e)
		}
	}
	return func() {
		r.mu.Lock()
		r.t = t
		// A restore may add and delete anything: every watch looks again.
		top := r.lastWrite
		t.Ascend(func(e *Entry) bool { top = max(top, e.Version); return true })
		r.wrote(top, true)
		r.mu.Unlock()
	}, nil
}

// Get reads one key of the local replica (tests and tools; requests go
// through Query).
func (r *Replicated) Get(key string) (Entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.t.Get(key)
	if !ok {
		return Entry{}, false
	}
	return *e, true
}
