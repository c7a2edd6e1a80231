package kv

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/conclave-dev/conclave/internal/wire"
)

// TableID is the KV table's number in the command envelope. Ops and
// queries are append-only numbers: never renumber.
const TableID = 1

const (
	opPut    = 1 // key value
	opCAS    = 2 // key value version
	opDelete = 3 // key version

	queryGet  = 1 // key
	queryList = 2 // prefix limit
)

// Limits. Consul caps values at 512 KiB; etcd requests at 1.5 MiB. They
// are part of the state machine's rules: the service checks them to answer
// early, the leader screens every command with them before proposing it
// (whichever door it came through), and the table refuses a command over
// them at apply, alike on every replica.
const (
	MaxKeyBytes   = 1024
	MaxValueBytes = 512 << 10
	// MaxCommandBytes bounds one encoded KV command: a maximal key and
	// value and a few bytes of framing. It is the largest command of any
	// table.
	MaxCommandBytes = MaxValueBytes + MaxKeyBytes + 64
	// reservedKey starts keys kept for conclave's own use: no KV command
	// may write under it. Internal state has its own tables.
	reservedKey = "_sys"
)

// Command is one decoded KV write. Version is the compare-and-set's or
// conditional delete's expected version.
type Command struct {
	op      byte
	Key     string
	Value   []byte
	Version uint64
}

// Put writes key unconditionally.
func Put(key string, value []byte) Command { return Command{op: opPut, Key: key, Value: value} }

// CompareAndSet writes key only at version (0: only if absent).
func CompareAndSet(key string, value []byte, version uint64) Command {
	return Command{op: opCAS, Key: key, Value: value, Version: version}
}

// Delete deletes key (only at version when version > 0).
func Delete(key string, version uint64) Command {
	return Command{op: opDelete, Key: key, Version: version}
}

// Marshal is the command as the envelope carries it.
func (c Command) Marshal() []byte {
	e := wire.Command(TableID, c.op)
	e.String(c.Key)
	switch c.op {
	case opPut:
		e.Bytes(c.Value)
	case opCAS:
		e.Bytes(c.Value)
		e.Uvarint(c.Version)
	case opDelete:
		e.Uvarint(c.Version)
	}
	return e.Data()
}

// Validate checks the command against the table's rules.
func (c Command) Validate() error {
	if err := ValidKey("key", c.Key, true); err != nil {
		return err
	}
	return ValidValue(c.Value)
}

// unmarshal reads op's fields and checks them: the one decoding the
// table's Apply and the leader's screen share.
func unmarshal(op byte, d *wire.Decoder) (Command, error) {
	c := Command{op: op}
	switch op {
	case opPut:
		c.Key, c.Value = d.String(), d.Bytes()
	case opCAS:
		c.Key, c.Value, c.Version = d.String(), d.Bytes(), d.Uvarint()
	case opDelete:
		c.Key, c.Version = d.String(), d.Uvarint()
	default:
		return c, wire.Invalidf("op", "unknown kv op %d", op)
	}
	if err := d.Done(); err != nil {
		return c, fmt.Errorf("%w: malformed kv command: %w", wire.ErrInvalid, err)
	}
	return c, c.Validate()
}

// ValidKey checks a key: for writes (write true) it must not start with
// the reserved prefix. The error names field.
func ValidKey(field, key string, write bool) error {
	switch {
	case key == "":
		return wire.Invalidf(field, "must not be empty")
	case len(key) > MaxKeyBytes:
		return wire.Invalidf(field, "%d bytes, the limit is %d", len(key), MaxKeyBytes)
	case !utf8.ValidString(key):
		return wire.Invalidf(field, "not valid UTF-8")
	case write && strings.HasPrefix(key, reservedKey):
		return wire.Invalidf(field, "the prefix %q is reserved", reservedKey)
	}
	return nil
}

// ValidValue checks a value's size.
func ValidValue(v []byte) error {
	if len(v) > MaxValueBytes {
		return wire.Invalidf("value", "%d bytes, the limit is %d", len(v), MaxValueBytes)
	}
	return nil
}

// validPrefix checks a listing prefix.
func validPrefix(prefix string) error {
	if len(prefix) > MaxKeyBytes || !utf8.ValidString(prefix) {
		return wire.Invalidf("prefix", "must be valid UTF-8 of at most %d bytes", MaxKeyBytes)
	}
	return nil
}

// getQuery and listQuery are the table's reads as the envelope carries them.
func getQuery(key string) []byte {
	q := wire.Command(TableID, queryGet)
	q.String(key)
	return q.Data()
}

func listQuery(prefix string, limit int) []byte {
	q := wire.Command(TableID, queryList)
	q.String(prefix)
	q.Uvarint(uint64(limit))
	return q.Data()
}

func encodeEntry(e *wire.Encoder, v *Entry) {
	e.String(v.Key)
	e.Bytes(v.Value)
	e.Uvarint(v.Version)
	e.Uvarint(v.CreateIndex)
}

func decodeEntry(d *wire.Decoder) *Entry {
	return &Entry{Key: d.String(), Value: d.Bytes(), Version: d.Uvarint(), CreateIndex: d.Uvarint()}
}

// minEntryBytes is the smallest encoded entry: empty key and value, two
// one-byte numbers.
const minEntryBytes = 4

// decodeEntries reads a query result's count and entries.
func decodeEntries(d *wire.Decoder) ([]Entry, error) {
	count := d.Count(minEntryBytes)
	if d.Err() != nil {
		return nil, d.Err()
	}
	out := make([]Entry, 0, count)
	for i := 0; i < count && d.Err() == nil; i++ {
		out = append(out, *decodeEntry(d))
	}
	if err := d.Done(); err != nil {
		return nil, err
	}
	return out, nil
}
