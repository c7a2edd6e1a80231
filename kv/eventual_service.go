package kv

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// EventualGossip is what the eventual store needs of gossip: cluster
// passes one over its gossip membership.
type EventualGossip interface {
	// Queue piggybacks msg (at most the service's maxBroadcast bytes) on
	// gossip; the queue keeps it.
	Queue(msg []byte)
	// SendToAll sends msg over TCP to every member alive now.
	SendToAll(msg []byte)
}

// EventualService is the eventual store's door on one node: it stamps and
// applies local writes, gossips their deltas, merges peers' messages and
// forgets old tombstones (Run).
type EventualService struct {
	st           *Eventual
	g            EventualGossip
	now          func() time.Time
	maxBroadcast int
	big          chan []byte
	// unsent counts large deltas not sent at once because Run was behind
	// (push/pull carries them later).
	unsent      atomic.Uint64
	convergence prometheus.Histogram
}

// NewEventualService returns node self's eventual store over g. Deltas of
// at most maxBroadcast bytes are piggybacked on gossip, larger ones sent
// over TCP by Run. now is the node's clock.
func NewEventualService(self string, cfg EventualConfig, g EventualGossip, maxBroadcast int, now func() time.Time) *EventualService {
	s := &EventualService{st: NewEventual(self, cfg), g: g, now: now, maxBroadcast: maxBroadcast, big: make(chan []byte, 256),
		convergence: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "conclave", Name: "kv_eventual_convergence_seconds",
			Help:    "Delay from a remote eventual-KV write's HLC stamp (its origin's clock) to its apply on this node; includes clock skew between the nodes.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		})}
	s.st.SetObserver(func(d time.Duration) { s.convergence.Observe(max(d, 0).Seconds()) })
	return s
}

// Store is the underlying CRDT (tests and the benchmark read it).
func (s *EventualService) Store() *Eventual { return s.st }

// Put writes key on this node and gossips it; it needs no quorum.
func (s *EventualService) Put(_ context.Context, key string, value []byte) (EventualEntry, error) {
	e, delta, err := s.st.Put(s.now(), key, value)
	if err != nil {
		return EventualEntry{}, err
	}
	s.publish(delta)
	return e, nil
}

// Delete tombstones key on this node and gossips it. ErrNotFound if it
// holds no value here.
func (s *EventualService) Delete(_ context.Context, key string) error {
	delta, err := s.st.Delete(s.now(), key)
	if err != nil {
		return err
	}
	s.publish(delta)
	return nil
}

// Get reads key as this node holds it now.
func (s *EventualService) Get(_ context.Context, key string) (EventualEntry, error) {
	return s.st.Get(key)
}

// List lists the live keys with prefix as this node holds them.
func (s *EventualService) List(_ context.Context, prefix string, limit int) ([]EventualEntry, error) {
	return s.st.List(prefix, limit)
}

func (s *EventualService) publish(delta []byte) {
	if len(delta) <= s.maxBroadcast {
		s.g.Queue(delta)
		return
	}
	select {
	case s.big <- delta:
	default:
		// Run is behind: push/pull carries the write later.
		s.unsent.Add(1)
	}
}

// Merge applies a peer's delta or push/pull state (gossip's NotifyMsg and
// MergeRemoteState); what was news is passed on. A malformed message is
// dropped and counted. It does not block.
func (s *EventualService) Merge(msg []byte) {
	res, err := s.st.Merge(s.now(), msg)
	if err != nil {
		return
	}
	// Passed on only when it fits in a gossip packet: a larger delta came
	// over TCP from its origin to every member alive then, and sending it
	// on from every receiver would cost N² transfers; anti-entropy covers
	// a member it missed.
	if res.Outgoing != nil && len(res.Outgoing) <= s.maxBroadcast {
		s.g.Queue(res.Outgoing)
	}
}

// CountMalformed counts gossip input meant for the eventual store that
// could not even be routed to it (an undecodable push/pull frame) as
// malformed.
func (s *EventualService) CountMalformed() {
	s.st.mu.Lock()
	s.st.drops["malformed"]++
	s.st.mu.Unlock()
}

// GossipState is this node's push/pull state (gossip's LocalState).
func (s *EventualService) GossipState() []byte { return s.st.State() }

// Run sends the large deltas and forgets old tombstones until ctx ends;
// it returns nil then.
func (s *EventualService) Run(ctx context.Context) error {
	tick := time.NewTicker(max(s.st.cfg.TombstoneTTL/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-s.big:
			s.g.SendToAll(d)
		case <-tick.C:
			s.st.Compact(s.now())
		}
	}
}

// Collectors are the eventual store's Prometheus metrics (namespace
// conclave). The caller registers them.
func (s *EventualService) Collectors() []prometheus.Collector {
	const ns = "conclave"
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "kv_eventual_keys",
			Help: "Live keys in this node's eventual KV store (tombstones not counted)."},
			func() float64 { return float64(s.st.Stats().Keys) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "kv_eventual_bytes",
			Help: "Bytes of this node's eventual KV store counted against its bound (keys, values, tombstones and a per-key overhead)."},
			func() float64 { return float64(s.st.Stats().Bytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "kv_eventual_merges_total",
			Help: "Remote eventual KV versions that won and were applied on this node."},
			func() float64 { return float64(s.st.Stats().Merges) }),
		s.convergence,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "kv_eventual_unsent_total",
			Help: "Eventual KV deltas too large for a gossip packet that were not sent at once (the sender was behind); anti-entropy carries them."},
			func() float64 { return float64(s.unsent.Load()) }),
	}
	for _, reason := range []string{"malformed", "value_too_large", "store_full"} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Name: "kv_eventual_dropped_total",
			Help:        "Remote eventual KV input dropped: malformed messages, and versions over the value or store bound.",
			ConstLabels: prometheus.Labels{"reason": reason}},
			func() float64 { return float64(s.st.Stats().Dropped[reason]) }))
	}
	return cs
}
