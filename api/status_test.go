package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/raftcore"
)

// The caller's own deadline is DeadlineExceeded even when the write's
// outcome is unknown; the bounded wait for a leader is Unavailable; an
// answer too large for the mesh is ResourceExhausted.
func TestCodeOfDeadlinesAndLimits(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("put %q: %w; the write may have been applied (%w): x", "k", context.DeadlineExceeded, raftcore.ErrOutcomeUnknown), codes.DeadlineExceeded},
		{fmt.Errorf("get %q: %w before a leader answered", "k", context.Canceled), codes.Canceled},
		{fmt.Errorf("put %q: %w: %w: no leader with quorum after 5s", "k", cluster.ErrUnavailable, raftcore.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("put %q: %w: %w", "k", cluster.ErrUnavailable, raftcore.ErrOutcomeUnknown), codes.Unavailable},
		{fmt.Errorf("list %q: %w: 4 MiB", "p", cluster.ErrTooLarge), codes.ResourceExhausted},
		{errors.New("other"), codes.Internal},
	} {
		if got := codeOf(tc.err); got != tc.want {
			t.Errorf("codeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
