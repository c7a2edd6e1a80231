package locks

// The Service's knowledge of the locks of the sessions open on this node:
// what each holds (with its token) and which acquires are waiting for a
// grant. mu guards it; Sessions.Lookup is asked under mu, so an entry is
// only made for a session that is open, and SessionEnded (which runs
// after the session is gone from the session table) removes it for good.

// addWaiter registers a pending acquire of name by pid, if pid is open
// here, and returns the session's Done channel and the wake-up channel.
func (s *Service) addWaiter(pid, name string) (<-chan struct{}, chan waitDone, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	done, ok := s.sessions.Lookup(pid)
	if !ok {
		return nil, nil, false
	}
	ch := make(chan waitDone, 1)
	s.entry(pid).waiters[name] = ch
	return done, ch, true
}

func (s *Service) removeWaiter(pid, name string, ch chan waitDone) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.bySession[pid]; e != nil && e.waiters[name] == ch {
		delete(e.waiters, name)
		s.prune(pid, e)
	}
}

// entry returns pid's entry, making it; s.mu is held and pid is open.
func (s *Service) entry(pid string) *sessionLocks {
	e := s.bySession[pid]
	if e == nil {
		e = &sessionLocks{held: map[string]uint64{}, waiters: map[string]chan waitDone{}}
		s.bySession[pid] = e
	}
	return e
}

// prune drops an entry with nothing in it; s.mu is held.
func (s *Service) prune(pid string, e *sessionLocks) {
	if len(e.held) == 0 && len(e.waiters) == 0 {
		delete(s.bySession, pid)
	}
}

func (s *Service) setHeld(pid, name string, token uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions.Lookup(pid); ok {
		s.entry(pid).held[name] = token
	}
}

func (s *Service) dropHeld(pid, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.bySession[pid]; e != nil {
		delete(e.held, name)
		s.prune(pid, e)
	}
}

// dropHeldToken forgets the grant of name with token, if that is still the
// grant this node knows of, and reports whether it did.
func (s *Service) dropHeldToken(pid, name string, token uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.bySession[pid]
	if e == nil {
		return false
	}
	if t, ok := e.held[name]; !ok || t != token {
		return false
	}
	delete(e.held, name)
	s.prune(pid, e)
	return true
}

// Held returns the locks this node knows the session pid holds, with
// their tokens.
func (s *Service) Held(pid string) map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.bySession[pid]
	out := make(map[string]uint64)
	if e != nil {
		for k, v := range e.held {
			out[k] = v
		}
	}
	return out
}

// holders returns the sessions that hold locks, with their grants.
func (s *Service) holders() map[string]map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]uint64)
	for pid, e := range s.bySession {
		if len(e.held) == 0 {
			continue
		}
		h := make(map[string]uint64, len(e.held))
		for k, v := range e.held {
			h[k] = v
		}
		out[pid] = h
	}
	return out
}

// SessionEnded forgets what the service kept for the session pid. The
// node calls it once the session has ended (it is no longer open), from
// any goroutine; it does not block.
func (s *Service) SessionEnded(pid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bySession, pid)
}

// Deliver routes the table's events to this node's sessions: grants to
// their waiting acquires, losses and unexpected grants as notices. It is
// the replicated table's notify: called after every applied batch, on the
// FSM goroutine, and it never blocks.
func (s *Service) Deliver(events []IndexedEvent) {
	s.deliverElections(events)
	var notices []struct {
		pid string
		n   Notice
	}
	notify := func(pid string, n Notice) {
		notices = append(notices, struct {
			pid string
			n   Notice
		}{pid, n})
	}
	s.mu.Lock()
	for _, ev := range events {
		if NodeOf(ev.PID) != s.cfg.Node {
			continue
		}
		if _, open := s.sessions.Lookup(ev.PID); !open {
			continue
		}
		e := s.entry(ev.PID)
		if ev.Sem {
			// Semaphores only wake their waiting acquires (see SemAcquire).
			if wake := e.waiters[semKey(ev.Name)]; wake != nil {
				switch ev.Kind {
				case Granted:
					wakeLatest(wake, waitDone{token: ev.Token, index: ev.Index})
				case WaitExpired, WaitCancelled:
					wakeLatest(wake, waitDone{expired: true, index: ev.Index})
				}
			}
			s.prune(ev.PID, e)
			continue
		}
		wake := e.waiters[ev.Name]
		switch ev.Kind {
		case Granted:
			prior, had := e.held[ev.Name]
			known := had && prior == ev.Token // the acquirer already returned this grant
			e.held[ev.Name] = ev.Token
			if wake != nil {
				wakeLatest(wake, waitDone{token: ev.Token, index: ev.Index})
			} else if !known {
				notify(ev.PID, Notice{Kind: NoticeGranted, Lock: ev.Name, Token: ev.Token})
			}
		case Released, AutoReleased:
			_, had := e.held[ev.Name]
			delete(e.held, ev.Name)
			if ev.Kind == AutoReleased && had {
				notify(ev.PID, Notice{Kind: NoticeLost, Lock: ev.Name, Token: ev.Token,
					Detail: "released by the cluster (session or node declared gone)"})
			}
		case WaitExpired, WaitCancelled:
			if wake != nil {
				wakeLatest(wake, waitDone{expired: true, index: ev.Index})
			}
		}
		s.prune(ev.PID, e)
	}
	s.mu.Unlock()
	for _, n := range notices {
		s.sessions.Emit(n.pid, n.n)
	}
	s.pushGrants(events)
}

// wakeLatest puts w in the one-slot channel, replacing an unread earlier
// event (which the waiter would ignore as older than its acquire). Only
// Deliver sends, under s.mu, so the send after the drain cannot block.
func wakeLatest(ch chan waitDone, w waitDone) {
	select {
	case <-ch:
	default:
	}
	ch <- w
}
