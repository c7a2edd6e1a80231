package cluster

import (
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/naming"
)

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
