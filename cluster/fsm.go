package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/cluster/session"
	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/raftcore"
	"github.com/conclave-dev/conclave/registry"
)

// fsm is the replicated state machine: an envelope (version, table, op,
// fields; see wire.Command) dispatched to a registry of tables, and one
// snapshot holding all of them. raft calls Apply/ApplyBatch, Snapshot and
// Restore from its FSM goroutine; Query and Screen are called concurrently
// from request goroutines; each table guards its own state.
type fsm struct {
	log zerolog.Logger

	tables    map[byte]Table
	order     []byte // table numbers in registration order: the snapshot's order
	releasers []SessionReleaser
	flushers  []Flusher

	rejected atomic.Uint64 // commands refused as unknown or malformed
	// haltedAt is the index of the first entry whose checksum did not
	// match (0: not halted; Raft's indexes start at 1). From it on the FSM
	// applies nothing, answers no query and takes no snapshot.
	haltedAt         atomic.Uint64
	checksumFailures atomic.Uint64 // entries whose checksum did not match
	// onHalt, set before Raft starts, is told once when the FSM halts
	// (the node hands off leadership). Called from raft's FSM goroutine:
	// it must not block.
	onHalt func(index uint64)
	// corrupt is a test hook (export_test.go): when set, it gives the
	// entry the FSM sees in place of the committed one, standing for a
	// disk or memory that changed it.
	corrupt atomic.Pointer[func(*raft.Log) *raft.Log]
	// applyLatency observes how long each command took to apply (set
	// before Raft starts, when the node has a registerer). Timing only:
	// Apply's result never depends on it (STYLE 12).
	applyLatency prometheus.Histogram
	// hashes takes the state's hash at checkpoints, for the cross-check
	// between members (statehash.go); nil: none.
	hashes *stateHashes
}

func newFSM(log zerolog.Logger) *fsm {
	return &fsm{log: log.With().Str("component", "fsm").Logger(), tables: map[byte]Table{}}
}

// tables are the replicated tables of a node, one per domain.
type tables struct {
	kv        *kv.Replicated
	locks     *locks.Replicated
	names     *naming.Table
	admission *raftcore.Admissions
	acl       *acl.Replicated
	registry  *registry.Table
}

// registerTables registers every table, one line each; the order is the
// snapshot's, and release commands reach the session-owned tables in this
// order.
func (f *fsm) registerTables(t tables) error {
	return errors.Join(
		f.register(kv.TableID, t.kv),
		f.register(locks.TableID, t.locks),
		f.register(naming.TableID, t.names),
		f.register(raftcore.AdmissionTableID, t.admission),
		f.register(acl.TableID, t.acl),
		f.register(registry.TableID, t.registry),
	)
}

// register adds a table under its number; before Raft starts only. A
// number registered twice is a programming error, reported at start.
func (f *fsm) register(id byte, t Table) error {
	if id == 0 {
		return fmt.Errorf("cluster: table number 0 is the snapshot's end marker")
	}
	if _, dup := f.tables[id]; dup {
		return fmt.Errorf("cluster: table %d registered twice", id)
	}
	f.tables[id] = t
	f.order = append(f.order, id)
	if r, ok := t.(SessionReleaser); ok {
		f.releasers = append(f.releasers, r)
	}
	if fl, ok := t.(Flusher); ok {
		f.flushers = append(f.flushers, fl)
	}
	return nil
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM; the tables' events go out once
// the batch is applied.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if c := f.corrupt.Load(); c != nil {
			l = (*c)(l)
		}
		if err := f.verify(l); err != nil {
			out[i] = err
			continue
		}
		if f.applyLatency == nil {
			out[i] = f.apply(l.Index, l.Data)
		} else {
			start := time.Now()
			out[i] = f.apply(l.Index, l.Data)
			f.applyLatency.Observe(time.Since(start).Seconds())
		}
		f.hashes.checkpoint(f, l.Index)
	}
	for _, fl := range f.flushers {
		fl.Flush()
	}
	return out
}

// verify checks an entry's checksum (wire.VerifyChecksum) and answers the
// refusal of a halted FSM for an entry that does not match, or for any
// entry once halted. An entry with no checksum this version knows (from an
// older leader) is applied unverified.
func (f *fsm) verify(l *raft.Log) error {
	if at := f.haltedAt.Load(); at != 0 {
		return haltedErr(at)
	}
	if known, ok := wire.VerifyChecksum(l.Data, l.Extensions); !known || ok {
		return nil
	}
	f.checksumFailures.Add(1)
	f.haltedAt.Store(l.Index)
	ev := f.log.Error().Uint64("index", l.Index).Int("bytes", len(l.Data))
	if len(l.Data) >= 2 {
		ev = ev.Uint8("table", l.Data[1])
	}
	ev.Msg("checksum mismatch: the state machine halts and applies no further entry; restore this node from a snapshot or wipe it and rejoin")
	if f.onHalt != nil {
		f.onHalt(l.Index)
	}
	return haltedErr(l.Index)
}

// halted reports the index at which the FSM halted, if it has.
func (f *fsm) halted() (index uint64, ok bool) {
	at := f.haltedAt.Load()
	return at, at != 0
}

// haltedErr is the refusal of a halted FSM.
func haltedErr(index uint64) error {
	return fmt.Errorf("%w: state machine halted at index %d: checksum mismatch", wire.ErrUnavailable, index)
}

func (f *fsm) apply(index uint64, data []byte) []byte {
	if err := validCommandSize(data); err != nil {
		return f.reject(index, err)
	}
	table, op, d, err := wire.ParseCommand(data)
	if err != nil {
		return f.reject(index, err)
	}
	if session.IsRelease(table, op) {
		return f.release(index, op, d)
	}
	t, ok := f.tables[table]
	if !ok {
		return f.reject(index, fmt.Errorf("unknown table %d", table))
	}
	res, err := t.Apply(index, op, d)
	if err != nil {
		return f.reject(index, err)
	}
	return res
}

// release applies a release-session or release-node entry (package
// session's commands; DESIGN §3) to every table that holds things owned by
// sessions, in registration order, stopping at the first refusal.
func (f *fsm) release(index uint64, op byte, d *wire.Decoder) []byte {
	cmd, err := session.ParseRelease(op, d)
	if err != nil {
		return f.reject(index, err)
	}
	for _, r := range f.releasers {
		if err := cmd.ReleaseFrom(index, r); err != nil {
			return wire.Refusal(err)
		}
	}
	return wire.Result().Data()
}

// reject counts and logs a command refused as unknown or malformed and
// answers it as invalid, alike on every replica.
func (f *fsm) reject(index uint64, err error) []byte {
	f.rejected.Add(1)
	why := invalidMsg(err)
	f.log.Error().Uint64("index", index).Str("reason", why).Msg("command refused")
	return wire.Refusal(&wire.Error{Code: wire.Invalid, Detail: why})
}

// invalidMsg is err's message without the leading "invalid argument: ",
// which the proposer's side adds back with the sentinel.
func invalidMsg(err error) string {
	msg := err.Error()
	if len(msg) > len(wire.ErrInvalid.Error())+2 && errors.Is(err, wire.ErrInvalid) {
		if p := wire.ErrInvalid.Error() + ": "; msg[:len(p)] == p {
			return msg[len(p):]
		}
	}
	return msg
}

// Screen implements raftcore.Screener: the leader refuses a command over
// a limit before proposing it, with the answer the FSM would give.
func (f *fsm) Screen(cmd []byte) []byte {
	if err := f.check(cmd); err != nil {
		return wire.Refusal(&wire.Error{Code: wire.Invalid, Detail: invalidMsg(err)})
	}
	return nil
}

// check is the screen: size, envelope, and the table's own check of the
// command's fields (the one its Apply makes).
func (f *fsm) check(cmd []byte) error {
	if err := validCommandSize(cmd); err != nil {
		return err
	}
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil {
		return fmt.Errorf("%w: %w", wire.ErrInvalid, err)
	}
	if session.IsRelease(table, op) {
		return nil // no application fields
	}
	t, ok := f.tables[table]
	if !ok {
		return wire.Invalidf("table", "unknown table %d", table)
	}
	if err := t.Screen(op, d); err != nil {
		if !errors.Is(err, wire.ErrInvalid) {
			err = fmt.Errorf("%w: %w", wire.ErrInvalid, err)
		}
		return err
	}
	return nil
}

// validCommandSize bounds a whole encoded command: the largest legal one
// is a KV write of a maximal key and value.
func validCommandSize(cmd []byte) error {
	if len(cmd) > kv.MaxCommandBytes {
		return wire.Invalidf("command", "%d bytes, the limit is %d", len(cmd), kv.MaxCommandBytes)
	}
	return nil
}

// Query implements raftcore.Querier: it answers a read against the local
// tables.
func (f *fsm) Query(q []byte) ([]byte, error) {
	if at, ok := f.halted(); ok {
		return nil, haltedErr(at) // a halted replica serves no stale read
	}
	table, op, d, err := wire.ParseCommand(q)
	if err != nil {
		return nil, fmt.Errorf("%w: query not understood: %w", wire.ErrInvalid, err)
	}
	t, ok := f.tables[table]
	if !ok {
		return nil, fmt.Errorf("%w: query not understood: unknown table %d", wire.ErrInvalid, table)
	}
	return t.Query(op, d)
}

// Snapshot format: magic, then one section per table (table number, the
// table's own section), in registration order, then a 0 byte. A table
// with nothing to save may leave its section out.
const snapMagic = "CNCLSNP1"

// Snapshot implements raft.FSM: every table takes an O(1) view; Persist
// writes them out while Apply goes on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if at, ok := f.halted(); ok {
		return nil, fmt.Errorf("cluster: snapshot: %w", haltedErr(at))
	}
	s := &snapshot{}
	for _, id := range f.order {
		w, err := f.tables[id].Snapshot()
		if err != nil {
			return nil, fmt.Errorf("cluster: snapshot table %d: %w", id, err)
		}
		if w != nil {
			s.sections = append(s.sections, section{id: id, write: w})
		}
	}
	return s, nil
}

// Restore implements raft.FSM: it reads every section into new state and
// installs them all only once the whole snapshot has been read.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	br := bufio.NewReader(rc)
	magic := make([]byte, len(snapMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapMagic {
		return fmt.Errorf("cluster: restore: not a conclave snapshot")
	}
	commits := map[byte]func(){}
	for {
		id, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("cluster: restore: %w", err)
		}
		if id == 0 {
			break
		}
		t, ok := f.tables[id]
		if !ok {
			return fmt.Errorf("cluster: restore: unknown table %d", id)
		}
		if _, dup := commits[id]; dup {
			return fmt.Errorf("cluster: restore: table %d twice", id)
		}
		commit, err := t.Restore(br)
		if err != nil {
			return fmt.Errorf("cluster: restore table %d: %w", id, err)
		}
		commits[id] = commit
	}
	for _, id := range f.order {
		if _, ok := commits[id]; ok {
			continue
		}
		commit, err := f.tables[id].Restore(nil)
		if err != nil {
			return fmt.Errorf("cluster: restore table %d: %w", id, err)
		}
		commits[id] = commit
	}
	for _, id := range f.order {
		commits[id]()
	}
	f.hashes.reset()
	return nil
}

type section struct {
	id    byte
	write func(io.Writer) error
}

type snapshot struct{ sections []section }

// writeTo writes the snapshot: the magic, each section, the end marker.
func (s *snapshot) writeTo(out io.Writer) error {
	w := bufio.NewWriterSize(out, 64<<10)
	if _, err := w.WriteString(snapMagic); err != nil {
		return err
	}
	for _, sec := range s.sections {
		if err := w.WriteByte(sec.id); err != nil {
			return err
		}
		if err := sec.write(w); err != nil {
			return err
		}
	}
	if err := w.WriteByte(0); err != nil {
		return err
	}
	return w.Flush()
}

// Persist implements raft.FSMSnapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.writeTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("cluster: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() {}
