package cluster

import (
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/locks"
)

// screenLock checks the application fields of a lock command with the
// lock package's own validation, the one its table applies (internal
// commands, release-session, release-node and tick, carry none).
func screenLock(op byte, d *wire.Decoder) error {
	var err error
	switch op {
	case lkAcquire:
		name, pid, wait, delay := d.String(), d.String(), d.Uvarint(), d.Uvarint()
		err = locks.AcquireRequest{Name: name, PID: pid, Wait: time.Duration(wait), LockDelay: time.Duration(delay)}.Validate()
	case lkRelease:
		name, pid := d.String(), d.String()
		err = locks.AcquireRequest{Name: name, PID: pid}.Validate()
	}
	if d.Err() != nil {
		return fmt.Errorf("%w: malformed lock command: %w", ErrInvalidArgument, d.Err())
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return nil
}
