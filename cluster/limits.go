package cluster

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
)

// KV limits. Consul caps values at 512 KiB; etcd requests at 1.5 MiB.
// They are part of the state machine's rules: the API checks them to answer
// early, the leader screens every command with them before proposing it
// (whichever door it came through: this node's API or a peer's forwarded
// request), and the FSM refuses a command over them at apply, alike on every
// replica. Lock and name limits live in their packages (locks, naming),
// whose tables enforce them at apply too.
const (
	MaxKeyBytes   = 1024
	MaxValueBytes = 512 << 10
	// reservedKey starts keys kept for conclave's own use: no KV command
	// may write under it. Internal state has its own command tables.
	reservedKey = "_sys"
	// maxCommandBytes bounds one encoded command: the largest legal one is
	// a KV write of a maximal key and value, a few bytes of framing more.
	maxCommandBytes = MaxValueBytes + MaxKeyBytes + 64
)

// validKey checks a key: for writes (write true) it must not start with
// the reserved prefix.
func validKey(field, key string, write bool) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: %s: must not be empty", ErrInvalidArgument, field)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: %s: %d bytes, the limit is %d", ErrInvalidArgument, field, len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %s: not valid UTF-8", ErrInvalidArgument, field)
	case write && strings.HasPrefix(key, reservedKey):
		return fmt.Errorf("%w: %s: the prefix %q is reserved", ErrInvalidArgument, field, reservedKey)
	}
	return nil
}

func validValue(v []byte) error {
	if len(v) > MaxValueBytes {
		return fmt.Errorf("%w: value: %d bytes, the limit is %d", ErrInvalidArgument, len(v), MaxValueBytes)
	}
	return nil
}

// validCommandSize bounds a whole encoded command.
func validCommandSize(cmd []byte) error {
	if len(cmd) > maxCommandBytes {
		return fmt.Errorf("%w: command: %d bytes, the limit is %d", ErrInvalidArgument, len(cmd), maxCommandBytes)
	}
	return nil
}

// kvCmd is one decoded KV command.
type kvCmd struct {
	op      byte
	key     string
	value   []byte
	version uint64
}

// decodeKV decodes a KV command's fields and checks them against the same
// limits as the API. Both the leader's screen and the FSM's apply use it.
func decodeKV(op byte, d *dec) (kvCmd, error) {
	c := kvCmd{op: op}
	switch op {
	case kvPut:
		c.key, c.value = d.string(), d.bytes()
	case kvCAS:
		c.key, c.value, c.version = d.string(), d.bytes(), d.uvarint()
	case kvDelete:
		c.key, c.version = d.string(), d.uvarint()
	default:
		return c, fmt.Errorf("%w: unknown kv op %d", ErrInvalidArgument, op)
	}
	if err := d.done(); err != nil {
		return c, fmt.Errorf("%w: malformed kv command: %w", ErrInvalidArgument, err)
	}
	if err := validKey("key", c.key, true); err != nil {
		return c, err
	}
	return c, validValue(c.value)
}

// checkCommand is the leader's screen of a command before it is proposed:
// size, envelope and every application field's limit, with the functions
// the API calls and the tables apply (the tables refuse the same commands
// at apply, on every replica alike).
func checkCommand(cmd []byte) error {
	if err := validCommandSize(cmd); err != nil {
		return err
	}
	d := &dec{b: cmd}
	ver, table, op := d.byte(), d.byte(), d.byte()
	if d.err != nil || ver != cmdVersion {
		return fmt.Errorf("%w: command version %d not understood", ErrInvalidArgument, ver)
	}
	switch table {
	case tableKV:
		_, err := decodeKV(op, d)
		return err
	case tableAdmission:
		_, err := decodeAdmission(op, d)
		return err
	case tableLocks:
		return screenLock(op, d)
	case tableNames:
		return screenName(op, d)
	}
	return fmt.Errorf("%w: unknown table %d", ErrInvalidArgument, table)
}

// screenLock checks the application fields of a lock command with the
// lock package's own validation, the one its table applies (internal
// commands, release-session, release-node and tick, carry none).
func screenLock(op byte, d *dec) error {
	var err error
	switch op {
	case lkAcquire:
		name, pid, wait, delay := d.string(), d.string(), d.uvarint(), d.uvarint()
		err = locks.AcquireRequest{Name: name, PID: pid, Wait: time.Duration(wait), LockDelay: time.Duration(delay)}.Validate()
	case lkRelease:
		name, pid := d.string(), d.string()
		err = locks.AcquireRequest{Name: name, PID: pid}.Validate()
	}
	if d.err != nil {
		return fmt.Errorf("%w: malformed lock command: %w", ErrInvalidArgument, d.err)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return nil
}

// screenName checks the name, PID and metadata of a name command with the
// naming package's validation, the one its table applies.
func screenName(op byte, d *dec) error {
	var errs []error
	switch op {
	case nmRegister, nmReserve:
		name, pid, meta := d.string(), d.string(), d.bytes()
		errs = append(errs, naming.ValidateName(name), naming.ValidatePID(pid), naming.ValidateMeta(meta))
	case nmActivate, nmCancel, nmUnregister:
		name, pid := d.string(), d.string()
		errs = append(errs, naming.ValidateName(name), naming.ValidatePID(pid))
	}
	if d.err != nil {
		return fmt.Errorf("%w: malformed name command: %w", ErrInvalidArgument, d.err)
	}
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
	}
	return nil
}
