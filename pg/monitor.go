package pg

import "sync"

// Monitor watches one group: Initial is its members when the monitor
// started, then Events carries every join and leave after that, in the order
// this node learned them (for the members of any one node, the order that
// node made them in). A reader that falls more than the monitor buffer
// behind is cut off (Done closes, Err is ErrMonitorOverflow), since its
// picture would no longer be complete.
type Monitor struct {
	key     Key
	svc     *Service
	initial []string
	events  chan Change
	done    chan struct{}
	once    sync.Once
	err     error // set before done closes
}

// Monitor starts watching k (reserved groups included: monitoring reads),
// its members now and then every join and leave this node learns of. The
// caller must Close it.
func (s *Service) Monitor(k Key) (*Monitor, error) {
	k = scoped(k)
	if err := ValidateKey(k, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, ErrStopped
	}
	m := &Monitor{
		key: k, svc: s, initial: s.state.Members(k),
		events: make(chan Change, s.cfg.MonitorBuffer), done: make(chan struct{}),
	}
	if s.monitors[k] == nil {
		s.monitors[k] = map[*Monitor]struct{}{}
	}
	s.monitors[k][m] = struct{}{}
	return m, nil
}

// notifyLocked hands changes to the monitors of their groups, never
// blocking.
func (s *Service) notifyLocked(changes []Change) {
	for _, c := range changes {
		for m := range s.monitors[c.Key] {
			select {
			case m.events <- c:
			default:
				delete(s.monitors[c.Key], m)
				m.end(ErrMonitorOverflow)
			}
		}
		if len(s.monitors[c.Key]) == 0 {
			delete(s.monitors, c.Key)
		}
	}
}

// Key is the group watched.
func (m *Monitor) Key() Key { return m.key }

// Initial returns the members when the monitor started, sorted.
func (m *Monitor) Initial() []string { return append([]string(nil), m.initial...) }

// Events delivers the joins and leaves. It is never closed: watch Done.
func (m *Monitor) Events() <-chan Change { return m.events }

// Done is closed when the monitor ends: Close, overflow or the Service
// stopping. Events already queued may still be read.
func (m *Monitor) Done() <-chan struct{} { return m.done }

// Err says why the monitor ended: nil after Close, ErrMonitorOverflow or
// ErrStopped.
func (m *Monitor) Err() error {
	select {
	case <-m.done:
		return m.err
	default:
		return nil
	}
}

// Close stops the monitor. Safe to call more than once.
func (m *Monitor) Close() {
	m.svc.mu.Lock()
	if ms := m.svc.monitors[m.key]; ms != nil {
		delete(ms, m)
		if len(ms) == 0 {
			delete(m.svc.monitors, m.key)
		}
	}
	m.svc.mu.Unlock()
	m.end(nil)
}

func (m *Monitor) end(err error) {
	m.once.Do(func() {
		m.err = err
		close(m.done)
	})
}
