package cluster

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/cluster/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
)

// Command envelope: version(1) table(1) op(1) fields. Tables and ops are
// append-only numbers; an unknown version, table or op is refused loudly
// (an error result and an error log line) on every node alike.
const (
	cmdVersion = 1

	tableKV = 1

	kvPut    = 1
	kvCAS    = 2
	kvDelete = 3

	kvGet  = 1
	kvList = 2
)

// Result status, the first byte of every command and query result.
const (
	resOK       = 0
	resNotFound = 1
	resMismatch = 2
	resInvalid  = 3
)

// fsm is the replicated state machine: one envelope dispatched to the
// tables, one snapshot holding all of them. raft calls Apply/ApplyBatch,
// Snapshot and Restore from its FSM goroutine; Query is called concurrently
// from API handlers and guarded by mu.
type fsm struct {
	log zerolog.Logger

	mu    sync.RWMutex
	kv    *kv.Table
	locks *locks.Table
	names *naming.Table
	// admitted is the set of servers an operator admitted (manual
	// admission), with the index of the entry that admitted each.
	admitted map[string]uint64
	// pending collects the lock events of the batch being applied; they go
	// to notify once the batch is done and the lock is released.
	pending []lockEvent
	// notify receives lock events after every batch (set before Raft
	// starts). It must not block: it only queues for sessions.
	notify func([]lockEvent)
	// namePending and notifyNames do the same for name events (watchers).
	namePending []naming.Event
	notifyNames func([]naming.Event)

	rejected atomic.Uint64 // commands refused as unknown or malformed
	// applyLatency observes how long each command took to apply (set
	// before Raft starts, when the node has a registerer). Timing only:
	// Apply's result never depends on it (STYLE 12).
	applyLatency prometheus.Histogram
}

// locksHeld counts the locks that have a holder; for metrics.
func (f *fsm) locksHeld() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.locks.Held()
}

func newFSM(log zerolog.Logger) *fsm {
	return &fsm{log: log.With().Str("component", "fsm").Logger(), kv: kv.New(), locks: locks.New(),
		names: naming.NewTable(), admitted: map[string]uint64{}, notify: func([]lockEvent) {}, notifyNames: func([]naming.Event) {}}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM: one lock for the whole batch.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if f.applyLatency == nil {
			out[i] = f.apply(l.Index, l.Data)
			continue
		}
		start := time.Now()
		out[i] = f.apply(l.Index, l.Data)
		f.applyLatency.Observe(time.Since(start).Seconds())
	}
	events, nameEvents := f.pending, f.namePending
	f.pending, f.namePending = nil, nil
	f.mu.Unlock()
	if len(events) > 0 {
		f.notify(events)
	}
	if len(nameEvents) > 0 {
		f.notifyNames(nameEvents)
	}
	return out
}

func (f *fsm) apply(index uint64, data []byte) []byte {
	if err := validCommandSize(data); err != nil {
		return f.reject(index, invalidMsg(err))
	}
	d := &dec{b: data}
	ver, table, op := d.byte(), d.byte(), d.byte()
	if d.err != nil || ver != cmdVersion {
		return f.reject(index, fmt.Sprintf("command version %d not understood", ver))
	}
	switch table {
	case tableKV:
		return f.applyKV(index, op, d)
	case tableLocks:
		return f.applyLocks(index, op, d)
	case tableNames:
		return f.applyNames(index, op, d)
	case tableAdmission:
		return f.applyAdmission(index, op, d)
	}
	return f.reject(index, fmt.Sprintf("unknown table %d", table))
}

func (f *fsm) reject(index uint64, why string) []byte {
	f.rejected.Add(1)
	f.log.Error().Uint64("index", index).Str("reason", why).Msg("command refused")
	return errResult(resInvalid, why)
}

func (f *fsm) applyKV(index uint64, op byte, d *dec) []byte {
	c, err := decodeKV(op, d)
	if err != nil {
		return f.reject(index, invalidMsg(err))
	}
	var e *kv.Entry
	switch c.op {
	case kvPut:
		e = f.kv.Put(index, c.key, c.value)
	case kvCAS:
		e, err = f.kv.CompareAndSet(index, c.key, c.value, c.version)
	case kvDelete:
		e, err = f.kv.Delete(c.key, c.version)
	}
	if err != nil {
		return kvErrResult(err)
	}
	r := &enc{b: []byte{resOK}}
	encodeEntry(r, e)
	return r.b
}

// Screen implements raftcore.Screener: the leader refuses a command over
// a limit before proposing it, with the answer the FSM would give.
func (f *fsm) Screen(cmd []byte) []byte {
	if err := checkCommand(cmd); err != nil {
		return errResult(resInvalid, invalidMsg(err))
	}
	return nil
}

// invalidMsg is err's message without the ErrInvalidArgument prefix, which
// the proposer adds back when it decodes the result.
func invalidMsg(err error) string {
	return strings.TrimPrefix(err.Error(), ErrInvalidArgument.Error()+": ")
}

func kvErrResult(err error) []byte {
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return errResult(resNotFound, err.Error())
	case errors.Is(err, kv.ErrVersionMismatch):
		return errResult(resMismatch, err.Error())
	}
	return errResult(resInvalid, err.Error())
}

func errResult(status byte, msg string) []byte {
	r := &enc{b: []byte{status}}
	r.string(msg)
	return r.b
}

// resultErr turns a non-OK result into the matching cluster error.
func resultErr(status byte, d *dec) error {
	msg := d.string()
	switch status {
	case resNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, msg)
	case resMismatch:
		return fmt.Errorf("%w: %s", ErrVersionMismatch, msg)
	case resInvalid:
		return fmt.Errorf("%w: %s", ErrInvalidArgument, msg)
	}
	return fmt.Errorf("cluster: result status %d: %s", status, msg)
}

func encodeEntry(e *enc, v *kv.Entry) {
	e.string(v.Key)
	e.bytes(v.Value)
	e.uvarint(v.Version)
	e.uvarint(v.CreateIndex)
}

func decodeEntry(d *dec) *kv.Entry {
	return &kv.Entry{Key: d.string(), Value: d.bytes(), Version: d.uvarint(), CreateIndex: d.uvarint()}
}

// minEntryBytes is the smallest encoded entry: empty key and value, two
// one-byte numbers.
const minEntryBytes = 4

// decodeEntries reads a kv query result's count and entries.
func decodeEntries(d *dec) ([]KVEntry, error) {
	count := d.count(minEntryBytes)
	if d.err != nil {
		return nil, d.err
	}
	out := make([]KVEntry, 0, count)
	for i := 0; i < count && d.err == nil; i++ {
		out = append(out, toEntry(decodeEntry(d)))
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return out, nil
}

// Query implements raftcore.Querier: it answers a read against the local
// tables.
func (f *fsm) Query(q []byte) ([]byte, error) {
	d := &dec{b: q}
	ver, table, op := d.byte(), d.byte(), d.byte()
	if d.err != nil || ver != cmdVersion || (table != tableKV && table != tableLocks && table != tableNames) {
		return nil, fmt.Errorf("%w: query not understood", ErrInvalidArgument)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	switch table {
	case tableLocks:
		return f.queryLocks(op, d)
	case tableNames:
		return f.queryNames(op, d)
	}
	r := &enc{b: []byte{resOK}}
	switch op {
	case kvGet:
		key := d.string()
		if d.done() != nil {
			return nil, fmt.Errorf("%w: malformed kv get", ErrInvalidArgument)
		}
		e, ok := f.kv.Get(key)
		if !ok {
			return errResult(resNotFound, fmt.Sprintf("key %q", key)), nil
		}
		r.uvarint(1)
		encodeEntry(r, e)
	case kvList:
		prefix, limit := d.string(), d.uvarint()
		if d.done() != nil {
			return nil, fmt.Errorf("%w: malformed kv list", ErrInvalidArgument)
		}
		es := f.kv.List(prefix, int(limit))
		r.uvarint(uint64(len(es)))
		for _, e := range es {
			encodeEntry(r, e)
		}
	default:
		return nil, fmt.Errorf("%w: unknown kv query %d", ErrInvalidArgument, op)
	}
	return r.b, nil
}

// Snapshot format: magic, version, then one section per table
// (table id, entry count, entries), then a 0 byte.
const snapMagic = "CNCLSNP1"

// Snapshot implements raft.FSM: it takes an O(1) copy-on-write view under
// the lock; Persist writes it out while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lk, err := f.locks.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("cluster: snapshot locks: %w", err)
	}
	nm, err := f.names.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("cluster: snapshot names: %w", err)
	}
	s := &snapshot{kv: f.kv.Clone(), locks: lk, names: nm}
	if len(f.admitted) > 0 {
		s.admitted = encodeAdmitted(f.admitted)
	}
	return s, nil
}

// Restore implements raft.FSM: it replaces every table with the snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	br := bufio.NewReader(rc)
	magic := make([]byte, len(snapMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapMagic {
		return fmt.Errorf("cluster: restore: not a conclave snapshot")
	}
	t := kv.New()
	lt := locks.New()
	nt := naming.NewTable()
	adm := map[string]uint64{}
	for {
		table, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("cluster: restore: %w", err)
		}
		if table == 0 {
			break
		}
		if table == tableLocks {
			rec, err := readFrame(br)
			if err != nil {
				return fmt.Errorf("cluster: restore locks: %w", err)
			}
			if err := lt.UnmarshalBinary(rec); err != nil {
				return fmt.Errorf("cluster: restore locks: %w", err)
			}
			continue
		}
		if table == tableNames {
			rec, err := readFrame(br)
			if err != nil {
				return fmt.Errorf("cluster: restore names: %w", err)
			}
			if err := nt.UnmarshalBinary(rec); err != nil {
				return fmt.Errorf("cluster: restore names: %w", err)
			}
			continue
		}
		if table == tableAdmission {
			rec, err := readFrame(br)
			if err != nil {
				return fmt.Errorf("cluster: restore admitted servers: %w", err)
			}
			if adm, err = decodeAdmitted(rec); err != nil {
				return fmt.Errorf("cluster: restore admitted servers: %w", err)
			}
			continue
		}
		if table != tableKV {
			return fmt.Errorf("cluster: restore: unknown table %d", table)
		}
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("cluster: restore kv: %w", err)
		}
		for i := uint64(0); i < n; i++ {
			rec, err := readFrame(br)
			if err != nil {
				return fmt.Errorf("cluster: restore kv entry %d: %w", i, err)
			}
			d := &dec{b: rec}
			e := decodeEntry(d)
			if err := d.done(); err != nil {
				return fmt.Errorf("cluster: restore kv entry %d: %w", i, err)
			}
			t.Insert(e)
		}
	}
	f.mu.Lock()
	f.kv, f.locks, f.names, f.admitted = t, lt, nt, adm
	f.mu.Unlock()
	return nil
}

type snapshot struct {
	kv    *kv.Table
	locks []byte // the lock table's own canonical encoding
	names []byte // the name table's own canonical encoding
	// admitted is the admitted set's section, nil when empty (so that a
	// cluster that never admitted anyone writes snapshots older versions
	// read).
	admitted []byte
}

// Persist implements raft.FSMSnapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 64<<10)
	err := func() error {
		if _, err := w.WriteString(snapMagic); err != nil {
			return err
		}
		e := &enc{}
		e.byte(tableKV)
		e.uvarint(uint64(s.kv.Len()))
		if _, err := w.Write(e.b); err != nil {
			return err
		}
		var werr error
		s.kv.Ascend(func(v *kv.Entry) bool {
			rec := &enc{}
			encodeEntry(rec, v)
			frame := &enc{}
			frame.bytes(rec.b)
			_, werr = w.Write(frame.b)
			return werr == nil
		})
		if werr != nil {
			return werr
		}
		lk := &enc{}
		lk.byte(tableLocks)
		lk.bytes(s.locks)
		if _, err := w.Write(lk.b); err != nil {
			return err
		}
		nm := &enc{}
		nm.byte(tableNames)
		nm.bytes(s.names)
		if _, err := w.Write(nm.b); err != nil {
			return err
		}
		if s.admitted != nil {
			ad := &enc{}
			ad.byte(tableAdmission)
			ad.bytes(s.admitted)
			if _, err := w.Write(ad.b); err != nil {
				return err
			}
		}
		if err := w.WriteByte(0); err != nil {
			return err
		}
		return w.Flush()
	}()
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("cluster: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() {}

// maxSnapshotRecord bounds one snapshot record, so a corrupt length cannot
// make restore allocate without limit.
const maxSnapshotRecord = 64 << 20

// snapshotChunk is what a record's buffer starts at; it grows (doubling)
// only as the record's bytes arrive, so a corrupt length in a short
// snapshot costs about what the snapshot holds, not maxSnapshotRecord.
const snapshotChunk = 64 << 10

func readFrame(br *bufio.Reader) ([]byte, error) {
	u, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if u > maxSnapshotRecord {
		return nil, fmt.Errorf("record of %d bytes exceeds %d", u, maxSnapshotRecord)
	}
	n := int(u)
	b := make([]byte, 0, min(n, snapshotChunk))
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(n-len(b), cap(b)))
		}
		k, err := io.ReadFull(br, b[len(b):min(n, cap(b))])
		b = b[:len(b)+k]
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}
