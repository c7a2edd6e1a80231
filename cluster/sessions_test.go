package cluster

import (
	"testing"

	"github.com/conclave-dev/conclave/locks"
)

// A lock notice reaches the session as the event of the same name (the
// API's kinds), and an unknown one passes through unchanged.
func TestLockEventKind(t *testing.T) {
	for notice, want := range map[locks.NoticeKind]SessionEventKind{
		locks.NoticeGranted: EventLockGranted,
		locks.NoticeAtRisk:  EventLockAtRisk,
		locks.NoticeSafe:    EventLockSafe,
		locks.NoticeLost:    EventLockLost,
		"from_the_future":   "from_the_future",
	} {
		if got := lockEventKind(notice); got != want || string(got) != string(notice) {
			t.Errorf("lockEventKind(%q) = %q, want %q", notice, got, want)
		}
	}
}
