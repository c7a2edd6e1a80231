package locks

import (
	"context"
)

// Run runs the lock duties every Config.DutyInterval until ctx ends: on
// the leader, a Tick when a wait or a lock delay is due (TickIfDue); on
// every node, the contact check (CheckContact). Cluster calls it once.
func (s *Service) Run(ctx context.Context) error {
	for {
		t := s.clock.NewTimer(s.cfg.DutyInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
		if s.core.Status().Leader {
			if err := s.TickIfDue(ctx); err != nil {
				s.log.Debug().Err(err).Msg("lock tick")
			}
		}
		s.CheckContact(ctx)
	}
}
