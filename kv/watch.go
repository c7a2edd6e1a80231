package kv

import (
	"context"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// ServiceOption configures a Service.
type ServiceOption func(*Service)

// WithReplica lets watches wait on the node's own replica r while local()
// reports that this node holds one (it is in the Raft configuration);
// otherwise they poll through the proposer.
func WithReplica(r *Replicated, local func() bool) ServiceOption {
	return func(s *Service) { s.replica, s.local = r, local }
}

// MaxWatchWait bounds one blocking watch; a longer wait is cut to it.
const MaxWatchWait = 10 * time.Minute

// watchPoll is how often a node without a replica looks again.
const watchPoll = 500 * time.Millisecond

// Watch is a blocking query over the keys with prefix (Consul's model):
// with after 0 it answers at once; otherwise it answers when a key there
// was written after index after (or may have been deleted), or when wait
// has passed, whichever is first. It returns the keys with prefix and the
// index to pass as after next time. A node in the Raft configuration
// waits on its own replica (a stale read: it may trail the leader by the
// replication lag); another node polls the leader every 500 ms and sees a
// deletion only as a listing that changed while it waited.
func (s *Service) Watch(ctx context.Context, prefix string, after uint64, wait time.Duration) ([]Entry, uint64, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, 0, err
	}
	if wait <= 0 || wait > MaxWatchWait {
		wait = MaxWatchWait
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	if s.replica != nil && (s.local == nil || s.local()) {
		return s.watchLocal(ctx, prefix, after, deadline.C)
	}
	return s.watchPolling(ctx, prefix, after, deadline.C)
}

func (s *Service) watchLocal(ctx context.Context, prefix string, after uint64, deadline <-chan time.Time) ([]Entry, uint64, error) {
	for {
		changed := s.replica.Changed()
		es, lastWrite, lastDelete := s.replica.watchList(prefix)
		index := max(lastWrite, after)
		if after == 0 || lastDelete > after || newest(es) > after {
			return es, index, nil
		}
		select {
		case <-changed:
		case <-deadline:
			return es, index, nil
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

func (s *Service) watchPolling(ctx context.Context, prefix string, after uint64, deadline <-chan time.Time) ([]Entry, uint64, error) {
	for {
		es, lastWrite, lastDelete, err := s.watchRemote(ctx, prefix)
		if err != nil {
			return nil, 0, err
		}
		index := max(lastWrite, after)
		if after == 0 || lastDelete > after || newest(es) > after {
			return es, index, nil
		}
		t := time.NewTimer(watchPoll)
		select {
		case <-t.C:
		case <-deadline:
			t.Stop()
			return es, index, nil
		case <-ctx.Done():
			t.Stop()
			return nil, 0, ctx.Err()
		}
	}
}

// watchRemote is watchList asked of the leader.
func (s *Service) watchRemote(ctx context.Context, prefix string) ([]Entry, uint64, uint64, error) {
	resp, err := s.p.Query(ctx, wire.ReadDefault, watchQuery(prefix))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("watch %q: %w", prefix, err)
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, 0, 0, fmt.Errorf("watch %q: %w", prefix, refused)
	}
	lastWrite, lastDelete := d.Uvarint(), d.Uvarint()
	es, err := decodeEntries(d)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("watch %q: decode: %w", prefix, err)
	}
	return es, lastWrite, lastDelete, nil
}

// newest is the highest version among es (0 for none).
func newest(es []Entry) uint64 {
	var n uint64
	for _, e := range es {
		n = max(n, e.Version)
	}
	return n
}
