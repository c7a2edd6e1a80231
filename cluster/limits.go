package cluster

import (
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
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

// screenName checks the name, PID and metadata of a name command with the
// naming package's validation, the one its table applies.
func screenName(op byte, d *wire.Decoder) error {
	var errs []error
	switch op {
	case nmRegister, nmReserve:
		name, pid, meta := d.String(), d.String(), d.Bytes()
		errs = append(errs, naming.ValidateName(name), naming.ValidatePID(pid), naming.ValidateMeta(meta))
	case nmActivate, nmCancel, nmUnregister:
		name, pid := d.String(), d.String()
		errs = append(errs, naming.ValidateName(name), naming.ValidatePID(pid))
	}
	if d.Err() != nil {
		return fmt.Errorf("%w: malformed name command: %w", ErrInvalidArgument, d.Err())
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
	}
	return nil
}
