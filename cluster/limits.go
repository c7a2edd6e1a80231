package cluster

import (
	"fmt"
	"strings"
	"unicode/utf8"
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
// size, envelope and, for KV, every field's limit. Commands of the other
// tables are checked field by field by their tables at apply (the same
// functions the API calls), which refuse them on every replica alike.
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
	case tableLocks, tableNames:
		return nil
	}
	return fmt.Errorf("%w: unknown table %d", ErrInvalidArgument, table)
}
