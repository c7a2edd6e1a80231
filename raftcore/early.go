package raftcore

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/rs/zerolog"
)

// Early replication (Config.EarlyReplication).
//
// hashicorp/raft's leader stores a batch of new entries in its own log (a
// sync) and only then wakes the goroutines that send them to the
// followers, which store them with a sync of their own before they answer:
// one commit costs two syncs one after the other. etcd's leader sends while
// it writes, as the Raft thesis allows (§10.2.1): the leader's own copy
// counts towards the majority only once it is on its disk, so sending
// earlier changes when followers store an entry, never when it counts as
// committed.
//
// earlyLog does that from beneath raft. It sits between raft and its log
// store; when the leader stores entries of its current term, it first hands
// them, in one AppendEntries request of its own, to as many voters as make
// a majority with the leader (the first ones in the configuration that are
// not paused), then stores them. Those followers sync them while the
// leader does. raft's replicator then sends the same entries as always;
// the follower finds it has them (same index, same term: raft skips
// duplicates) and answers without a second sync, so the commit waits for
// the slower of the two syncs instead of their sum.
//
// Nothing raft decides depends on the early request: its answer is only
// used to pause early sends to a follower that could not take them (one
// that lags, or is gone), and the request tells the follower no commit
// index (0, which raft's follower ignores). To the follower it is an
// AppendEntries from its leader, duplicated or reordered, which Raft
// tolerates by design: an old term is refused, and within one term the
// leader's log only grows, so the same index always carries the same entry.
type earlyLog struct {
	raft.LogStore // raft's LogCache over the store

	self   raft.ServerID
	header raft.RPCHeader // as raft's own requests carry it
	trans  raft.Transport // dial-only, short deadlines (newEarlyTransport)
	node   atomic.Pointer[earlyRaft]
	sent   *atomic.Uint64 // early requests a follower took (Stats.EarlyAppends)
	log    zerolog.Logger

	mu     sync.Mutex
	peers  map[raft.ServerID]*earlyPeer
	closed bool
	wg     sync.WaitGroup // one per earlyPeer goroutine
}

// earlyRaft is what earlyLog asks of raft: all of it answers without
// waiting for raft's main loop, which is the caller of StoreLogs.
type earlyRaft interface {
	State() raft.RaftState
	CurrentTerm() uint64
	GetConfiguration() raft.ConfigurationFuture
}

// earlyPeer sends one voter its early requests, one at a time and in
// order, from its own goroutine: batches that queue while a request is in
// flight go together in the next one. After a request failed or was
// refused it sends none until pauseUntil.
type earlyPeer struct {
	server raft.Server
	wake   chan struct{} // 1 slot: pending changed
	quit   chan struct{} // closed when the peer is dropped or earlyLog stops

	// Guarded by earlyLog.mu.
	pending    *raft.AppendEntriesRequest // entries not yet sent, nil when none
	pauseUntil time.Time
}

const (
	// earlyTimeout bounds one early request, dial included. A follower's
	// sync takes well under a millisecond; a request that takes longer is
	// abandoned (raft's replicator carries the entries anyway).
	earlyTimeout = 250 * time.Millisecond
	// earlyPause is how long a follower that refused an early request
	// (it lags behind the entry before the batch) or did not answer is
	// sent none: raft's replicator is catching it up meanwhile.
	earlyPause = time.Second
	// earlyMaxPending bounds the entries queued for one voter; beyond it
	// the queue is dropped (the follower is slow, the replicator covers).
	earlyMaxPending = 256
)

// wrapEarly returns the log store to give raft: logs itself, or, with
// Config.EarlyReplication, an earlyLog over it sending on its own
// transport over streams.
func (c *Core) wrapEarly(logs raft.LogStore, streams raft.StreamLayer, rc *raft.Config, hl hclog.Logger) raft.LogStore {
	if !c.cfg.EarlyReplication {
		return logs
	}
	c.earlyTrans = newEarlyTransport(streams, hl)
	header := raft.RPCHeader{
		ProtocolVersion: rc.ProtocolVersion,
		ID:              []byte(rc.LocalID),
		Addr:            c.transport.EncodePeer(rc.LocalID, c.transport.LocalAddr()),
	}
	c.early = newEarlyLog(logs, rc.LocalID, header, c.earlyTrans, &c.stats.earlyAppends, c.log)
	return c.early
}

// stopEarly stops early sending and closes its transport and streams, if
// early replication is on. Call it once raft has shut down (or never ran).
func (c *Core) stopEarly() {
	if c.early == nil {
		return
	}
	c.early.stop()
	c.earlyTrans.Close()
	c.earlyTrans.CloseStreams()
}

func newEarlyLog(logs raft.LogStore, self raft.ServerID, header raft.RPCHeader, trans raft.Transport, sent *atomic.Uint64, log zerolog.Logger) *earlyLog {
	return &earlyLog{
		LogStore: logs, self: self, header: header,
		trans: trans, sent: sent, log: log, peers: map[raft.ServerID]*earlyPeer{},
	}
}

func (e *earlyLog) start(r earlyRaft) { e.node.Store(&r) }

// StoreLog stores one entry as StoreLogs does.
func (e *earlyLog) StoreLog(l *raft.Log) error { return e.StoreLogs([]*raft.Log{l}) }

// StoreLogs sends the entries to the voters first when this node leads and
// they are its own (the current term's, appended after its last entry),
// then stores them.
func (e *earlyLog) StoreLogs(logs []*raft.Log) error {
	e.sendEarly(logs)
	return e.LogStore.StoreLogs(logs)
}

// IsMonotonic forwards the store's marker, as LogCache does.
func (e *earlyLog) IsMonotonic() bool {
	if m, ok := e.LogStore.(raft.MonotonicLogStore); ok {
		return m.IsMonotonic()
	}
	return false
}

func (e *earlyLog) sendEarly(logs []*raft.Log) {
	p := e.node.Load()
	if p == nil || len(logs) == 0 {
		return
	}
	r := *p
	term := logs[0].Term
	if r.State() != raft.Leader || term != r.CurrentTerm() {
		return
	}
	entries := make([]*raft.Log, len(logs))
	for i, l := range logs {
		if l.Term != term || l.Index != logs[0].Index+uint64(i) {
			return
		}
		cp := *l // raft keeps its own; the request is encoded on another goroutine
		entries[i] = &cp
	}
	req := &raft.AppendEntriesRequest{
		// Leader repeats the address for followers older than RPCHeader.
		RPCHeader: e.header, Term: term, Leader: e.header.Addr,
		PrevLogEntry: logs[0].Index - 1, Entries: entries,
	}
	if req.PrevLogEntry > 0 {
		var prev raft.Log
		if err := e.LogStore.GetLog(req.PrevLogEntry, &prev); err != nil {
			return
		}
		req.PrevLogTerm = prev.Term
	}
	var voters []raft.Server
	for _, s := range r.GetConfiguration().Configuration().Servers {
		if s.Suffrage == raft.Voter && s.ID != e.self {
			voters = append(voters, s)
		}
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	for id, peer := range e.peers {
		if !slices.ContainsFunc(voters, func(s raft.Server) bool { return s.ID == id }) {
			close(peer.quit) // no longer a voter
			delete(e.peers, id)
		}
	}
	// A commit needs as many followers as make a majority with the leader;
	// the others get the entries from raft's replicator alone, which costs
	// them and the leader no second request per batch.
	need := (len(voters) + 1) / 2
	for _, s := range voters {
		peer := e.peers[s.ID]
		if peer == nil || peer.server.Address != s.Address {
			if peer != nil {
				close(peer.quit)
			}
			peer = &earlyPeer{server: s, wake: make(chan struct{}, 1), quit: make(chan struct{})}
			e.peers[s.ID] = peer
			e.wg.Add(1)
			go e.run(peer)
		}
		if need == 0 || now.Before(peer.pauseUntil) {
			continue
		}
		peer.queue(req)
		need--
	}
}

// queue adds req's entries to what the peer has still to send: to the
// pending request when they follow on from it, else in its place.
func (p *earlyPeer) queue(req *raft.AppendEntriesRequest) {
	q := p.pending
	switch {
	case q != nil && q.Term == req.Term && q.PrevLogEntry+uint64(len(q.Entries)) == req.PrevLogEntry &&
		len(q.Entries)+len(req.Entries) <= earlyMaxPending:
		next := *q
		next.Entries = append(q.Entries[:len(q.Entries):len(q.Entries)], req.Entries...)
		p.pending = &next
	case len(req.Entries) <= earlyMaxPending:
		p.pending = req
	default:
		p.pending = nil
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run sends peer's pending entries until the peer is dropped or earlyLog
// stops. A request's answer only decides whether the next ones go at once
// or wait out earlyPause.
func (e *earlyLog) run(peer *earlyPeer) {
	defer e.wg.Done()
	for {
		select {
		case <-peer.quit:
			return
		case <-peer.wake:
		}
		e.mu.Lock()
		req := peer.pending
		peer.pending = nil
		e.mu.Unlock()
		if req == nil {
			continue
		}
		var resp raft.AppendEntriesResponse
		s := peer.server
		err := retryUnsent(func() error { return e.trans.AppendEntries(s.ID, s.Address, req, &resp) })
		if err == nil && resp.Success {
			e.sent.Add(1)
			continue
		}
		e.log.Debug().Str("peer", string(s.ID)).Err(err).Uint64("first", req.Entries[0].Index).
			Uint64("peer_last", resp.LastLog).Msg("early append not taken; pausing early appends to this voter")
		e.mu.Lock()
		peer.pending = nil
		peer.pauseUntil = time.Now().Add(earlyPause)
		e.mu.Unlock()
	}
}

// stop sends no more early requests and waits for the senders, each of
// which finishes the request it has in flight (bounded by earlyTimeout).
// Call it once raft has shut down.
func (e *earlyLog) stop() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		for id, peer := range e.peers {
			close(peer.quit)
			delete(e.peers, id)
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// newEarlyTransport is a raft transport for early requests only: it dials
// through streams with a short deadline and keeps one idle stream per
// follower; it never accepts (raft's own transport does, on the same
// streams).
func newEarlyTransport(streams raft.StreamLayer, hl hclog.Logger) *raft.NetworkTransport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  &dialOnly{StreamLayer: streams, done: make(chan struct{})},
		MaxPool: 1,
		Timeout: earlyTimeout,
		Logger:  hl.Named("early"),
	})
}

// dialOnly is a stream layer whose Accept waits until Close: the streams
// beneath belong to raft's transport, which accepts on them and closes them.
type dialOnly struct {
	raft.StreamLayer
	once sync.Once
	done chan struct{}
}

func (d *dialOnly) Accept() (net.Conn, error) {
	<-d.done
	return nil, net.ErrClosed
}

// Close ends Accept; it leaves the streams beneath open.
func (d *dialOnly) Close() error {
	d.once.Do(func() { close(d.done) })
	return nil
}
