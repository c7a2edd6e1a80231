package cluster

import (
	"github.com/conclave-dev/conclave/internal/wire"

	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/locks"
)

// Polling backs up event delivery for a waiting acquire: a client node
// applies no log, so it learns of its grant only by asking. It asks the
// leader, not a replica: a lagging replica may still show an earlier grant
// to the same session that it has since given up.
const (
	waitPollMember = time.Second
	waitPollClient = 100 * time.Millisecond
)

func lockCmd(op byte) *wire.Encoder { return wire.Command(tableLocks, op) }

func nowNanos() uint64 { return uint64(time.Now().UnixNano()) }

func validateAcquire(name string, opts AcquireOptions) error {
	if err := locks.ValidateName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if opts.Wait < 0 {
		return fmt.Errorf("%w: wait: must not be negative, got %s", ErrInvalidArgument, opts.Wait)
	}
	if opts.LockDelay < 0 || opts.LockDelay > locks.MaxLockDelay {
		return fmt.Errorf("%w: lock_delay: must be between 0 and %s, got %s", ErrInvalidArgument, locks.MaxLockDelay, opts.LockDelay)
	}
	return nil
}

type acquireResult struct {
	granted, queued bool
	token           uint64
	position        uint64
	holder          string
	index           uint64 // the acquire's entry; the grant it waits for comes later
}

// LockAcquire acquires the lock name for the open session pid on this node
// and returns its fencing token. Fail-fast by default (ErrLockHeld naming the
// holder); with opts.Wait it queues (FIFO) and waits for the grant or
// ErrWaitExpired. Acquiring a lock the session already holds returns the
// same token.
func (n *Node) LockAcquire(ctx context.Context, pid, name string, opts AcquireOptions) (uint64, error) {
	if err := validateAcquire(name, opts); err != nil {
		return 0, err
	}
	s, ok := n.sessions.get(pid)
	if !ok {
		return 0, fmt.Errorf("%w: %q is not open on node %s", ErrNoSession, pid, n.Name())
	}
	// Register for the grant before proposing: the grant may be applied
	// (and its event delivered) before the proposal returns.
	wake := s.addWaiter(name)
	defer s.removeWaiter(name, wake)
	c := lockCmd(lkAcquire)
	c.String(name)
	c.String(pid)
	c.Uvarint(uint64(opts.Wait))
	c.Uvarint(uint64(opts.LockDelay))
	c.Uvarint(nowNanos())
	resp, err := n.lockApply(ctx, c.Data())
	if err != nil {
		return 0, fmt.Errorf("acquire %q: %w", name, err)
	}
	d := wire.NewDecoder(resp)
	r := acquireResult{granted: d.Byte() == 1, token: d.Uvarint(), queued: d.Byte() == 1, position: d.Uvarint(), holder: d.String(), index: d.Uvarint()}
	if err := d.Done(); err != nil {
		return 0, fmt.Errorf("acquire %q: decode result: %w", name, err)
	}
	if r.granted {
		s.setHeld(name, r.token)
		return r.token, nil
	}
	return n.waitGrant(ctx, s, name, opts.Wait, wake, r)
}

// waitGrant waits for a queued acquire: the FSM's grant event (on a Raft
// member), a poll of the lock (everywhere, as a backstop), the wait's end or
// the caller giving up. A wait that ends unanswered is cancelled in the FSM.
func (n *Node) waitGrant(ctx context.Context, s *session, name string, wait time.Duration, wake chan waitDone, r acquireResult) (uint64, error) {
	poll := waitPollMember
	if !n.core.Status().Member {
		poll = waitPollClient
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	timer := time.NewTimer(wait + poll)
	defer timer.Stop()
	giveUp := func(why error) (uint64, error) {
		cctx, cancel := context.WithTimeout(context.Background(), n.core.ApplyTimeout())
		defer cancel()
		// Cancelling also releases a grant that raced with the timeout, so
		// the caller is never left holding a lock it was told it lacks.
		if err := n.lockRelease(cctx, s.pid, name); err != nil && !errors.Is(err, ErrNotHolder) {
			n.log.Warn().Err(err).Str("lock", name).Str("pid", s.pid).Msg("cancel lock wait")
		}
		return 0, why
	}
	for {
		select {
		case w := <-wake:
			if w.index <= r.index {
				// An event of an earlier acquire of this session (a grant it
				// gave up, a wait it cancelled), applied late by this
				// node's replica: not this acquire's answer.
				continue
			}
			if w.expired {
				return 0, fmt.Errorf("acquire %q: %w after %s (held by %s)", name, ErrWaitExpired, wait, r.holder)
			}
			s.setHeld(name, w.token)
			return w.token, nil
		case <-ticker.C:
			info, err := n.LockInspect(ctx, name, ReadDefault)
			if err != nil && !errors.Is(err, ErrNotFound) {
				continue
			}
			if info.Holder == s.pid {
				s.setHeld(name, info.Token)
				return info.Token, nil
			}
			queued := false
			for _, w := range info.Waiters {
				queued = queued || w.PID == s.pid
			}
			if !queued && err == nil {
				return 0, fmt.Errorf("acquire %q: %w after %s (held by %s)", name, ErrWaitExpired, wait, info.Holder)
			}
		case <-timer.C:
			return giveUp(fmt.Errorf("acquire %q: %w after %s (held by %s)", name, ErrWaitExpired, wait, r.holder))
		case <-ctx.Done():
			return giveUp(fmt.Errorf("acquire %q: %w", name, ctx.Err()))
		case <-s.Done():
			return 0, fmt.Errorf("acquire %q: %w: session %s ended", name, ErrNoSession, s.pid)
		}
	}
}

// LockRelease releases name if pid holds it (ErrNotHolder otherwise); a
// waiting pid gives up its place in the queue.
func (n *Node) LockRelease(ctx context.Context, pid, name string) error {
	if err := locks.ValidateName(name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if _, ok := n.sessions.get(pid); !ok {
		return fmt.Errorf("%w: %q is not open on node %s", ErrNoSession, pid, n.Name())
	}
	return n.lockRelease(ctx, pid, name)
}

func (n *Node) lockRelease(ctx context.Context, pid, name string) error {
	c := lockCmd(lkRelease)
	c.String(name)
	c.String(pid)
	c.Uvarint(nowNanos())
	if _, err := n.lockApply(ctx, c.Data()); err != nil {
		return fmt.Errorf("release %q: %w", name, err)
	}
	if s, ok := n.sessions.get(pid); ok {
		s.dropHeld(name)
	}
	return nil
}

// releaseSession proposes the one entry that frees everything pid held.
func (n *Node) releaseSession(ctx context.Context, pid string) error {
	_, err := n.lockApply(ctx, releaseCommand(opReleaseSession, pid, time.Now()))
	return err
}

// releaseNode proposes the one entry that frees everything node's sessions held.
func (n *Node) releaseNode(ctx context.Context, node string) error {
	_, err := n.lockApply(ctx, releaseCommand(opReleaseNode, node, time.Now()))
	return err
}

func (n *Node) lockTick(ctx context.Context) error {
	c := lockCmd(lkTick)
	c.Uvarint(nowNanos())
	_, err := n.lockApply(ctx, c.Data())
	return err
}

// lockApply proposes a lock command and turns a refusal into its error.
func (n *Node) lockApply(ctx context.Context, cmd []byte) ([]byte, error) {
	resp, err := n.core.Apply(ctx, cmd)
	if err != nil {
		return nil, coreErr(err)
	}
	d, refused := wire.ParseResult(resp)
	if refused == nil {
		return d.Rest(), nil
	}
	switch refused.Code {
	case resHeld:
		return nil, reason{msg: stripSentinel(refused.Detail), err: ErrLockHeld}
	case resNotHolder:
		return nil, reason{msg: stripSentinel(refused.Detail), err: ErrNotHolder}
	case resBusy:
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, refused.Detail)
	}
	return nil, refused
}

// LockInspect returns one lock. ErrNotFound if it is free with no waiters.
func (n *Node) LockInspect(ctx context.Context, name string, mode ReadMode) (LockInfo, error) {
	if err := locks.ValidateName(name); err != nil {
		return LockInfo{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	q := wire.Command(tableLocks, lkGet)
	q.String(name)
	ls, err := n.lockQuery(ctx, mode, q.Data())
	if err != nil {
		return LockInfo{}, fmt.Errorf("inspect %q: %w", name, err)
	}
	if len(ls) != 1 {
		return LockInfo{}, fmt.Errorf("inspect %q: %w", name, ErrNotFound)
	}
	return ls[0], nil
}

// LockList returns the locks whose names have the prefix, by name.
func (n *Node) LockList(ctx context.Context, prefix string, mode ReadMode) ([]LockInfo, error) {
	if len(prefix) > locks.MaxNameLen {
		return nil, fmt.Errorf("%w: prefix: longer than %d bytes", ErrInvalidArgument, locks.MaxNameLen)
	}
	q := wire.Command(tableLocks, lkList)
	q.String(prefix)
	return n.lockQuery(ctx, mode, q.Data())
}

func (n *Node) lockQuery(ctx context.Context, mode ReadMode, q []byte) ([]LockInfo, error) {
	resp, err := n.core.Query(ctx, raftMode(mode), q)
	if err != nil {
		return nil, coreErr(err)
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refused
	}
	ls, err := decodeLockInfos(d)
	if err != nil {
		return nil, fmt.Errorf("cluster: decode lock query: %w", err)
	}
	return ls, nil
}

// reason is an error whose text is just its message (which already says
// what happened, e.g. `lock "x" is held by n1/ab`) but which still matches
// its sentinel with errors.Is.
type reason struct {
	msg string
	err error
}

func (r reason) Error() string { return r.msg }
func (r reason) Unwrap() error { return r.err }

// stripSentinel drops the locks package's sentinel text ("locks: held: ")
// from a refusal message that crossed the wire.
func stripSentinel(msg string) string {
	for _, e := range []error{locks.ErrHeld, locks.ErrLockDelay, locks.ErrNotHolder} {
		msg = strings.TrimPrefix(msg, e.Error()+": ")
	}
	return msg
}
