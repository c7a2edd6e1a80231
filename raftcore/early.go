package raftcore

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// Early replication (Config.EarlyReplication).
//
// hashicorp/raft's leader stores a batch of new entries in its own log (a
// sync) and only then wakes the goroutines that send them to the
// followers, which store them with a sync of their own before they answer:
// one commit costs two syncs and a round trip one after the other. etcd's
// leader sends while it writes, as the Raft thesis allows (§10.2.1): an
// entry is committed once a majority holds it, and the leader's own copy
// counts only once it is on the leader's disk.
//
// earlyLog does that from beneath raft, with three parts:
//
//   - Its StoreLogs, called by the leader for entries of its current term,
//     queues them for a writer goroutine and returns at once. raft then
//     counts the leader as holding them and wakes its replicators, which
//     read them from the queue (GetLog) and send them while the writer
//     syncs. Every other store (a follower's, configuration entries, a
//     leader's whose writer is failing) is written before StoreLogs
//     returns, after whatever is queued, so the log keeps its order.
//   - The state machine (gatedFSM) applies an entry only once it has left
//     the queue, that is once the leader's own store has synced it.
//   - AppendEntries requests (serialTransport) tell followers a commit
//     index no higher than the last entry the leader has synced.
//
// So raft may count an entry committed before the leader has synced it,
// but nothing acts on that until the leader's copy is on its disk too:
// no entry is applied or acknowledged anywhere before a majority has
// synced it, as before. Configuration entries are never queued: raft acts
// on their commit itself (the next change may start).
//
// When the writer fails (a full disk), it keeps the entries and tries
// again until it succeeds or the core shuts down; meanwhile every store
// fails at once, so raft steps the leader down and a follower refuses new
// entries, and the gate keeps their commands from being applied.
type earlyLog struct {
	raft.LogStore // raft's LogCache over the store

	node     *earlyRaft      // set by start, before raft stores anything
	stopping <-chan struct{} // closed when the core begins to shut down
	queuedN  *atomic.Uint64  // batches queued (Stats.EarlyAppends)
	log      zerolog.Logger

	mu      sync.Mutex
	queued  []*raft.Log   // entries handed to the writer, in index order, not yet stored
	changed chan struct{} // closed and replaced when entries leave the queue or failing changes
	failing error         // the writer's last error while it retries; nil when it succeeds
	closed  bool

	wake chan struct{} // 1 slot: queued grew
	quit chan struct{} // closed by stop
	done chan struct{} // closed when the writer has returned
}

// earlyRaft is what earlyLog asks of raft; both answer without waiting for
// raft's main loop, which is the caller of StoreLogs.
type earlyRaft interface {
	State() raft.RaftState
	CurrentTerm() uint64
}

// earlyRetry bounds the writer's wait between attempts at a failing store.
const (
	earlyRetryMin = 50 * time.Millisecond
	earlyRetryMax = time.Second
)

// errEarlyStopped answers the gate once the core shuts down with entries
// still unsynced: they were never applied here.
var errEarlyStopped = errors.New("raftcore: shut down before the leader synced the entry")

// newEarlyLog starts the writer over logs. Waits on the queue end when
// stopping closes; the writer ends only at stop.
func newEarlyLog(logs raft.LogStore, stopping <-chan struct{}, queuedN *atomic.Uint64, log zerolog.Logger) *earlyLog {
	e := &earlyLog{
		LogStore: logs, stopping: stopping, queuedN: queuedN, log: log,
		changed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go e.run()
	return e
}

// start gives earlyLog the raft it serves; until then every store is
// written at once.
func (e *earlyLog) start(r earlyRaft) {
	e.mu.Lock()
	e.node = &r
	e.mu.Unlock()
}

// StoreLog stores one entry as StoreLogs does.
func (e *earlyLog) StoreLog(l *raft.Log) error { return e.StoreLogs([]*raft.Log{l}) }

// StoreLogs queues the leader's own new entries for the writer and returns;
// it writes every other batch itself, after the queue. raft stores from its
// main goroutine only, so nothing is queued while it writes.
func (e *earlyLog) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	e.mu.Lock()
	if e.failing != nil {
		err := e.failing
		e.mu.Unlock()
		return failingErr(err)
	}
	if e.queueable(logs) {
		for _, l := range logs {
			cp := *l // raft keeps its own; ours is read by the writer and GetLog
			e.queued = append(e.queued, &cp)
		}
		e.mu.Unlock()
		e.queuedN.Add(1)
		select {
		case e.wake <- struct{}{}:
		default:
		}
		return nil
	}
	e.mu.Unlock()
	if err := e.drain(); err != nil {
		return err
	}
	return e.LogStore.StoreLogs(logs)
}

// queueable reports whether logs are the leader's own new entries, which
// the writer may store behind raft's back: this node leads in their term,
// they follow on from the log, and none is a configuration. Under e.mu.
func (e *earlyLog) queueable(logs []*raft.Log) bool {
	if e.node == nil || e.closed {
		return false
	}
	r := *e.node
	term := logs[0].Term
	if r.State() != raft.Leader || term != r.CurrentTerm() {
		return false
	}
	next, err := e.lastIndexLocked()
	if err != nil {
		return false
	}
	for _, l := range logs {
		next++
		if l.Term != term || l.Index != next || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}

// failingErr refuses a store or deletion while the writer's store fails.
func failingErr(err error) error {
	return fmt.Errorf("raftcore: log store failing, earlier entries not yet stored: %w", err)
}

// drain waits until the writer has stored everything queued; see
// waitQueued.
func (e *earlyLog) drain() error { return e.waitQueued(math.MaxUint64, true) }

// waitStored waits until no entry up to index is queued: the leader has
// synced it (raft's Shutdown waits for the state machine, which may be
// waiting here on a writer that keeps failing); see waitQueued.
func (e *earlyLog) waitStored(index uint64) error { return e.waitQueued(index, false) }

// waitQueued waits until no entry up to index is queued. With failFast it
// fails at once while the writer is failing. It ends with errEarlyStopped
// when the core stops.
func (e *earlyLog) waitQueued(index uint64, failFast bool) error {
	for {
		e.mu.Lock()
		ok := len(e.queued) == 0 || e.queued[0].Index > index
		failing, ch := e.failing, e.changed
		e.mu.Unlock()
		switch {
		case ok:
			return nil
		case failFast && failing != nil:
			return failingErr(failing)
		}
		select {
		case <-ch:
		case <-e.stopping:
			return errEarlyStopped
		case <-e.quit:
			return errEarlyStopped
		}
	}
}

// commitCap lowers a commit index to tell followers to the last entry the
// leader has synced.
func (e *earlyLog) commitCap(commit uint64) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.queued) > 0 && commit >= e.queued[0].Index {
		return e.queued[0].Index - 1
	}
	return commit
}

// GetLog reads a queued entry from the queue, any other from the store.
func (e *earlyLog) GetLog(index uint64, out *raft.Log) error {
	e.mu.Lock()
	if n := len(e.queued); n > 0 && index >= e.queued[0].Index && index <= e.queued[n-1].Index {
		*out = *e.queued[index-e.queued[0].Index]
		e.mu.Unlock()
		return nil
	}
	e.mu.Unlock()
	return e.LogStore.GetLog(index, out)
}

// LastIndex counts queued entries as stored.
func (e *earlyLog) LastIndex() (uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastIndexLocked()
}

func (e *earlyLog) lastIndexLocked() (uint64, error) {
	if n := len(e.queued); n > 0 {
		return e.queued[n-1].Index, nil
	}
	return e.LogStore.LastIndex()
}

// FirstIndex is the store's, or the first queued entry's when the store is
// empty.
func (e *earlyLog) FirstIndex() (uint64, error) {
	first, err := e.LogStore.FirstIndex()
	if err != nil || first != 0 {
		return first, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.queued) > 0 {
		return e.queued[0].Index, nil
	}
	return 0, nil
}

// DeleteRange deletes from the store once the queued entries up to hi are
// written, so a deletion never overtakes the entries it covers. Raft's
// snapshots compact the log from their own goroutine while the leader
// queues: a compaction covers only applied entries, so it never waits on
// the queue.
func (e *earlyLog) DeleteRange(lo, hi uint64) error {
	if err := e.waitQueued(hi, true); err != nil {
		return err
	}
	return e.LogStore.DeleteRange(lo, hi)
}

// IsMonotonic forwards the store's marker, as LogCache does.
func (e *earlyLog) IsMonotonic() bool {
	if m, ok := e.LogStore.(raft.MonotonicLogStore); ok {
		return m.IsMonotonic()
	}
	return false
}

// changedLocked wakes everyone waiting for entries to leave the queue or
// for the writer's state. Under e.mu.
func (e *earlyLog) changedLocked() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// run is the writer: it stores everything queued in one batch, one sync
// for all, and tries a failing batch again until it succeeds or the core
// stops.
func (e *earlyLog) run() {
	defer close(e.done)
	backoff := earlyRetryMin
	failures := 0 // in a row
	for {
		e.mu.Lock()
		batch := e.queued[:len(e.queued):len(e.queued)]
		e.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-e.wake:
				continue
			case <-e.quit:
				return
			}
		}
		err := e.LogStore.StoreLogs(batch)
		e.mu.Lock()
		if err == nil {
			e.queued = e.queued[len(batch):]
			e.failing = nil
		} else {
			e.failing = err
		}
		e.changedLocked()
		e.mu.Unlock()
		if err == nil {
			if failures > 0 {
				e.log.Info().Int("attempts", failures+1).Uint64("first", batch[0].Index).
					Msg("stored the leader's held entries; taking new ones again")
			}
			failures, backoff = 0, earlyRetryMin
			continue
		}
		if failures == 0 {
			e.log.Error().Err(err).Uint64("first", batch[0].Index).Int("entries", len(batch)).
				Msg("storing the leader's entries failed; retrying them, refusing new ones meanwhile")
		}
		failures++
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, earlyRetryMax)
		case <-e.quit:
			return
		}
	}
}

// stop ends the writer after the store it has in hand, and releases the
// gate. Call it once raft has shut down, before the stores close. Entries
// still queued were never applied or acknowledged.
func (e *earlyLog) stop() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.quit)
	}
	e.mu.Unlock()
	<-e.done
}

// gatedFSM applies an entry only once the leader has synced it
// (earlyLog.waitStored). It keeps raft's choice between Apply and
// ApplyBatch: gatedBatchingFSM is the one for a BatchingFSM.
type gatedFSM struct {
	raft.FSM
	early *earlyLog
}

func (g gatedFSM) Apply(l *raft.Log) any {
	if err := g.early.waitStored(l.Index); err != nil {
		return err
	}
	return g.FSM.Apply(l)
}

type gatedBatchingFSM struct {
	gatedFSM
	batching raft.BatchingFSM
}

func (g gatedBatchingFSM) ApplyBatch(logs []*raft.Log) []any {
	if len(logs) > 0 {
		if err := g.early.waitStored(logs[len(logs)-1].Index); err != nil {
			out := make([]any, len(logs))
			for i := range out {
				out[i] = err
			}
			return out
		}
	}
	return g.batching.ApplyBatch(logs)
}

// wrapEarly returns the log store and state machine to give raft: logs and
// fsm themselves, or, with Config.EarlyReplication, an earlyLog over logs
// and the gate over fsm, with trans capping the commit index it sends.
func (c *Core) wrapEarly(logs raft.LogStore, fsm raft.FSM, trans *serialTransport) (raft.LogStore, raft.FSM) {
	if !c.cfg.EarlyReplication {
		return logs, fsm
	}
	c.early = newEarlyLog(logs, c.shutdownCh, &c.stats.earlyAppends, c.log)
	trans.commitCap = c.early.commitCap
	g := gatedFSM{FSM: fsm, early: c.early}
	if b, ok := fsm.(raft.BatchingFSM); ok {
		return c.early, gatedBatchingFSM{gatedFSM: g, batching: b}
	}
	return c.early, g
}

// stopEarly stops the writer, if early replication is on. Call it once raft
// has shut down (or never ran).
func (c *Core) stopEarly() {
	if c.early != nil {
		c.early.stop()
	}
}
