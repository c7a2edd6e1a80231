package locks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// semKey is the key of a semaphore in a session's waiters map: a name
// can be both a lock and a semaphore, and no lock name starts with a NUL
// (names are printable).
func semKey(name string) string { return "\x00sem\x00" + name }

func validateSemAcquire(name string, limit int, wait time.Duration) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if limit < 1 || limit > MaxSemLimit {
		return wire.Invalidf("limit", "must be between 1 and %d, got %d", MaxSemLimit, limit)
	}
	if wait < 0 {
		return wire.Invalidf("wait", "must not be negative, got %s", wait)
	}
	return nil
}

// SemAcquire takes a slot of the semaphore name (limit slots) for the open
// session pid on this node and returns the slot's fencing token. Fail-fast
// by default (ErrHeld when all slots are held); with wait > 0 it queues
// (FIFO) and waits for a slot or ErrWaitExpired. Every acquirer must pass
// the semaphore's current limit (ErrNotHolder naming it otherwise).
// Acquiring a semaphore the session holds a slot of returns its token.
//
// Semaphore slots are not tracked for the lock_at_risk / lock_lost
// notices: a slot is lost exactly when its session ends.
func (s *Service) SemAcquire(ctx context.Context, pid, name string, limit int, wait time.Duration) (uint64, error) {
	if err := validateSemAcquire(name, limit, wait); err != nil {
		return 0, err
	}
	key := semKey(name)
	done, wake, ok := s.addWaiter(pid, key)
	if !ok {
		return 0, s.noSession(pid)
	}
	defer s.removeWaiter(pid, key, wake)
	cmd := SemAcquire{Name: name, PID: pid, Limit: limit, Wait: wait, Now: s.clock.Now()}
	resp, err := s.core.Apply(ctx, cmd.Marshal())
	if err != nil {
		return 0, fmt.Errorf("acquire semaphore %q: %w", name, err)
	}
	r, index, err := ParseAcquireResult(resp)
	if err != nil {
		return 0, fmt.Errorf("acquire semaphore %q: %w", name, err)
	}
	if r.Granted {
		return r.Token, nil
	}
	poll := func(ctx context.Context) (uint64, bool, bool, error) {
		info, err := s.SemInspect(ctx, name, wire.ReadDefault)
		for _, h := range info.Holders {
			if h.PID == pid {
				return h.Token, true, false, nil
			}
		}
		queued := false
		for _, w := range info.Waiters {
			queued = queued || w.PID == pid
		}
		return 0, false, queued, err
	}
	cancel := func(ctx context.Context) error { return s.semRelease(ctx, pid, name) }
	return s.semWaitGrant(ctx, "acquire semaphore", pid, name, wait, done, wake, index, poll, cancel)
}

// semWaitGrant is waitGrant for a semaphore slot: the table's grant event,
// a poll of the semaphore as a backstop, the wait's end or the caller
// giving up (which cancels the wait, and releases a slot granted meanwhile).
//
// poll reads the leader's view: the token if pid holds it, or whether pid is
// still queued (err wire.ErrNotFound: nobody holds or waits). cancel gives
// up the wait.
func (s *Service) semWaitGrant(ctx context.Context, verb, pid, name string, wait time.Duration, done <-chan struct{}, wake chan waitDone, index uint64,
	poll func(context.Context) (uint64, bool, bool, error), cancel func(context.Context) error) (uint64, error) {
	every := s.cfg.PollMember
	if !s.core.Status().Member {
		every = s.cfg.PollClient
	}
	ticker := s.clock.NewTimer(every)
	defer ticker.Stop()
	timer := s.clock.NewTimer(wait + every)
	defer timer.Stop()
	expired := func() error {
		return fmt.Errorf("%s %q: %w after %s", verb, name, ErrWaitExpired, wait)
	}
	giveUp := func(why error) (uint64, error) {
		cctx, stop := context.WithTimeout(context.Background(), s.core.ApplyTimeout())
		defer stop()
		if err := cancel(cctx); err != nil && !errors.Is(err, ErrNotHolder) {
			s.log.Warn().Err(err).Str("name", name).Str("pid", pid).Msg("cancel semaphore or election wait")
		}
		return 0, why
	}
	for {
		select {
		case w := <-wake:
			if w.index <= index {
				continue
			}
			if w.expired {
				return 0, expired()
			}
			return w.token, nil
		case <-ticker.C():
			ticker.Reset(every)
			tok, held, queued, err := poll(ctx)
			if err != nil && !errors.Is(err, wire.ErrNotFound) {
				continue
			}
			if held {
				return tok, nil
			}
			if !queued && err == nil {
				return 0, expired()
			}
		case <-timer.C():
			return giveUp(expired())
		case <-ctx.Done():
			return giveUp(fmt.Errorf("%s %q: %w", verb, name, ctx.Err()))
		case <-done:
			return 0, fmt.Errorf("%s %q: %w: session %s ended", verb, name, wire.ErrNoSession, pid)
		}
	}
}

// SemRelease frees pid's slot of the semaphore name (ErrNotHolder if it
// has none), or gives up its place in the queue.
func (s *Service) SemRelease(ctx context.Context, pid, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if _, ok := s.sessions.Lookup(pid); !ok {
		return s.noSession(pid)
	}
	return s.semRelease(ctx, pid, name)
}

func (s *Service) semRelease(ctx context.Context, pid, name string) error {
	resp, err := s.core.Apply(ctx, SemRelease{Name: name, PID: pid, Now: s.clock.Now()}.Marshal())
	if err == nil {
		err = parseOK(resp)
	}
	if err != nil {
		return fmt.Errorf("release semaphore %q: %w", name, err)
	}
	return nil
}

// SemInspect reads one semaphore in mode: its limit, holders and queue;
// wire.ErrNotFound if nobody holds or waits for it.
func (s *Service) SemInspect(ctx context.Context, name string, mode wire.ReadMode) (SemInfo, error) {
	if err := ValidateName(name); err != nil {
		return SemInfo{}, err
	}
	resp, err := s.core.Query(ctx, mode, SemGet{Name: name}.Marshal())
	if err != nil {
		return SemInfo{}, fmt.Errorf("inspect semaphore %q: %w", name, err)
	}
	ss, err := ParseSemInfos(resp)
	if err != nil {
		return SemInfo{}, fmt.Errorf("inspect semaphore %q: %w", name, err)
	}
	if len(ss) != 1 {
		return SemInfo{}, fmt.Errorf("inspect semaphore %q: %w", name, wire.ErrNotFound)
	}
	return ss[0], nil
}

// SemList returns the semaphores whose names have the prefix, by name.
func (s *Service) SemList(ctx context.Context, prefix string, mode wire.ReadMode) ([]SemInfo, error) {
	if err := wire.ValidatePrefix("prefix", prefix); err != nil {
		return nil, err
	}
	resp, err := s.core.Query(ctx, mode, SemList{Prefix: prefix}.Marshal())
	if err != nil {
		return nil, err
	}
	return ParseSemInfos(resp)
}
