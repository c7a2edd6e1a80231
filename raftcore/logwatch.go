package raftcore

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// WithLogAppendFault makes every append to the log store ask fault first;
// a non-nil error fails the append as a full or broken disk would (tests).
func WithLogAppendFault(fault func() error) Option {
	return func(c *Core) { c.appendFault = fault }
}

// watchedLog records whether appends to the log store succeed, for the
// log_store readiness check: a node whose disk is full cannot take entries
// and must not get client traffic. It is a raft.LogStore and keeps the
// store's monotonic marker (the WAL's), which changes raft's behaviour
// after a snapshot restore.
type watchedLog struct {
	raft.LogStore
	now   func() time.Time
	fault func() error

	mu          sync.Mutex
	failingFrom time.Time // first failure since the last success; zero when appends succeed
	lastErr     error
}

func (w *watchedLog) StoreLog(l *raft.Log) error { return w.StoreLogs([]*raft.Log{l}) }

func (w *watchedLog) StoreLogs(logs []*raft.Log) error {
	var err error
	if w.fault != nil {
		err = w.fault()
	}
	if err == nil {
		err = w.LogStore.StoreLogs(logs)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.failingFrom, w.lastErr = time.Time{}, nil
		return nil
	}
	if w.failingFrom.IsZero() {
		w.failingFrom = w.now()
	}
	w.lastErr = err
	return err
}

// IsMonotonic forwards the store's marker.
func (w *watchedLog) IsMonotonic() bool {
	if m, ok := w.LogStore.(raft.MonotonicLogStore); ok {
		return m.IsMonotonic()
	}
	return false
}

func (w *watchedLog) status() (since time.Time, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failingFrom, w.lastErr
}

// LogStoreFailing reports whether the last append to the log store failed
// (a full disk, a broken store), since when and why; since is zero while
// appends succeed.
func (c *Core) LogStoreFailing() (since time.Time, err error) {
	if c.logWatch == nil {
		return time.Time{}, nil
	}
	return c.logWatch.status()
}
