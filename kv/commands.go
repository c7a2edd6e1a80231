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
	// opDeletePrefix deletes every key with a prefix: prefix.
	opDeletePrefix = 4
	// opTxn compares versions, then writes: count, (key version)...,
	// count, (kind key [value])...
	opTxn = 5

	queryGet   = 1 // key
	queryList  = 2 // prefix limit
	queryWatch = 3 // prefix: the entries, the last write's and last delete's index (watches from client nodes)
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
	// MaxTxnItems bounds a transaction's compares and ops together, as
	// etcd's default max-txn-ops (128) and Consul's 64 do: one entry
	// applies them all while every other write waits.
	MaxTxnItems = 64
)

// The kinds of a transaction's op, as encoded.
const (
	txnPut    = 1
	txnDelete = 2
)

// Command is one decoded KV write. Version is the compare-and-set's or
// conditional delete's expected version.
type Command struct {
	op      byte
	Key     string // also the prefix of a prefix delete
	Value   []byte
	Version uint64
	// Compares and Ops are a transaction's.
	Compares []Compare
	Ops      []Op
}

// Compare is a transaction's condition: it holds when Key is at Version;
// Version 0 means "Key is absent".
type Compare struct {
	Key     string
	Version uint64
}

// Op is one write of a transaction: a put of Key, or its delete when
// Delete is set (an absent key is no error: the result says it was not
// there).
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// PutOp is a transaction's put.
func PutOp(key string, value []byte) Op { return Op{Key: key, Value: value} }

// DeleteOp is a transaction's delete.
func DeleteOp(key string) Op { return Op{Key: key, Delete: true} }

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

// DeletePrefix deletes every key that starts with prefix, which must not
// be empty.
func DeletePrefix(prefix string) Command { return Command{op: opDeletePrefix, Key: prefix} }

// Txn applies ops only if every compare holds, all in one entry.
func Txn(compares []Compare, ops []Op) Command {
	return Command{op: opTxn, Compares: compares, Ops: ops}
}

// Marshal is the command as the envelope carries it.
func (c Command) Marshal() []byte {
	e := wire.Command(TableID, c.op)
	if c.op == opTxn {
		marshalTxn(e, c.Compares, c.Ops)
		return e.Data()
	}
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

func marshalTxn(e *wire.Encoder, compares []Compare, ops []Op) {
	e.Uvarint(uint64(len(compares)))
	for _, c := range compares {
		e.String(c.Key)
		e.Uvarint(c.Version)
	}
	e.Uvarint(uint64(len(ops)))
	for _, o := range ops {
		if o.Delete {
			e.Byte(txnDelete)
			e.String(o.Key)
			continue
		}
		e.Byte(txnPut)
		e.String(o.Key)
		e.Bytes(o.Value)
	}
}

// Validate checks the command against the table's rules.
func (c Command) Validate() error {
	switch c.op {
	case opDeletePrefix:
		return validDeletePrefix(c.Key)
	case opTxn:
		return validTxn(c.Compares, c.Ops)
	}
	if err := ValidKey("key", c.Key, true); err != nil {
		return err
	}
	return ValidValue(c.Value)
}

// validDeletePrefix checks a prefix delete's prefix: not empty (deleting
// every key is too easy a mistake to allow in one word) and not under the
// reserved prefix.
func validDeletePrefix(prefix string) error {
	switch {
	case prefix == "":
		return wire.Invalidf("prefix", "must not be empty: a prefix delete of every key is refused")
	case strings.HasPrefix(prefix, reservedKey):
		return wire.Invalidf("prefix", "the prefix %q is reserved", reservedKey)
	}
	return validPrefix(prefix)
}

// validTxn checks a transaction: 1 to MaxTxnItems compares and ops
// together, valid keys (compares read, so they may name any key; ops
// write), values within the limit, no key written by two ops (which one
// wins would be a rule to remember), and the encoding within
// MaxCommandBytes, which the FSM's envelope enforces for every command.
func validTxn(compares []Compare, ops []Op) error {
	n := len(compares) + len(ops)
	switch {
	case n == 0:
		return wire.Invalidf("ops", "a transaction needs at least one compare or op")
	case n > MaxTxnItems:
		return wire.Invalidf("ops", "%d compares and %d ops, the limit is %d together", len(compares), len(ops), MaxTxnItems)
	}
	for i, c := range compares {
		if err := ValidKey(fmt.Sprintf("compares[%d].key", i), c.Key, false); err != nil {
			return err
		}
	}
	seen := make(map[string]int, len(ops))
	for i, o := range ops {
		if err := ValidKey(fmt.Sprintf("ops[%d].key", i), o.Key, true); err != nil {
			return err
		}
		if len(o.Value) > MaxValueBytes {
			return wire.Invalidf(fmt.Sprintf("ops[%d].value", i), "%d bytes, the limit is %d", len(o.Value), MaxValueBytes)
		}
		if o.Delete && len(o.Value) > 0 {
			return wire.Invalidf(fmt.Sprintf("ops[%d].value", i), "a delete carries no value")
		}
		if j, dup := seen[o.Key]; dup {
			return wire.Invalidf(fmt.Sprintf("ops[%d].key", i), "%q is also written by ops[%d]", o.Key, j)
		}
		seen[o.Key] = i
	}
	if size := txnSize(compares, ops); size > MaxCommandBytes {
		return wire.Invalidf("txn", "%d bytes encoded, the limit is %d", size, MaxCommandBytes)
	}
	return nil
}

// txnSize is the length of a transaction's encoded command.
func txnSize(compares []Compare, ops []Op) int {
	str := func(n int) int { return uvarintLen(uint64(n)) + n }
	size := 3 + uvarintLen(uint64(len(compares))) + uvarintLen(uint64(len(ops)))
	for _, c := range compares {
		size += str(len(c.Key)) + uvarintLen(c.Version)
	}
	for _, o := range ops {
		size += 1 + str(len(o.Key))
		if !o.Delete {
			size += str(len(o.Value))
		}
	}
	return size
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// unmarshal reads op's fields and checks them: the one decoding the
// table's Apply and the leader's screen share.
func unmarshal(op byte, d *wire.Decoder) (Command, error) {
	c := Command{op: op}
	switch op {
	case opTxn:
		return unmarshalTxn(d)
	case opDeletePrefix:
		c.Key = d.String()
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

// minTxnItemBytes is the smallest encoded compare or op: an empty key and
// a one-byte number or kind.
const minTxnItemBytes = 2

// unmarshalTxn reads a transaction. The counts are checked against what
// the input can hold before anything is allocated, and against
// MaxTxnItems before the items are read.
func unmarshalTxn(d *wire.Decoder) (Command, error) {
	c := Command{op: opTxn}
	if 3+d.Len() > MaxCommandBytes {
		return c, wire.Invalidf("txn", "%d bytes encoded, the limit is %d", 3+d.Len(), MaxCommandBytes)
	}
	if n := d.Field("compares").Count(minTxnItemBytes); n > 0 && n <= MaxTxnItems {
		c.Compares = make([]Compare, 0, n)
		for range n {
			c.Compares = append(c.Compares, Compare{Key: d.Field("compares.key").String(), Version: d.Field("compares.version").Uvarint()})
		}
	} else if n > MaxTxnItems {
		return c, wire.Invalidf("compares", "%d compares, the limit is %d", n, MaxTxnItems)
	}
	if n := d.Field("ops").Count(minTxnItemBytes); n > 0 && n <= MaxTxnItems {
		c.Ops = make([]Op, 0, n)
		for range n {
			var o Op
			switch kind := d.Field("ops.kind").Byte(); kind {
			case txnPut:
				o.Key, o.Value = d.Field("ops.key").String(), d.Field("ops.value").Bytes()
			case txnDelete:
				o.Key, o.Delete = d.Field("ops.key").String(), true
			default:
				if d.Err() == nil {
					d.Fail(fmt.Sprintf("ops.kind: unknown kind %d", kind))
				}
			}
			c.Ops = append(c.Ops, o)
		}
	} else if n > MaxTxnItems {
		return c, wire.Invalidf("ops", "%d ops, the limit is %d", n, MaxTxnItems)
	}
	if err := d.Done(); err != nil {
		return c, fmt.Errorf("%w: malformed kv txn: %w", wire.ErrInvalid, err)
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

func watchQuery(prefix string) []byte {
	q := wire.Command(TableID, queryWatch)
	q.String(prefix)
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

// encodeTxnResult and decodeTxnResult are a transaction's result: the
// outcome byte, then the failed compare and its key's version, or the
// index and each op's result (kind, then a put's entry or a delete's
// found flag).
func encodeTxnResult(e *wire.Encoder, r *TxnResult) {
	e.Bool(r.Succeeded)
	if !r.Succeeded {
		e.Uvarint(uint64(r.Failed))
		e.Uvarint(r.Actual)
		return
	}
	e.Uvarint(r.Index)
	e.Uvarint(uint64(len(r.Results)))
	for i := range r.Results {
		o := &r.Results[i]
		if o.Delete {
			e.Byte(txnDelete)
			e.String(o.Entry.Key)
			e.Bool(o.Deleted)
			continue
		}
		e.Byte(txnPut)
		encodeEntry(e, &o.Entry)
	}
}

func decodeTxnResult(d *wire.Decoder) (TxnResult, error) {
	var r TxnResult
	r.Succeeded = d.Field("succeeded").Bool()
	if !r.Succeeded {
		failed := d.Field("failed").Uvarint()
		r.Actual = d.Field("actual").Uvarint()
		if failed >= MaxTxnItems {
			d.Fail("failed: compare index out of range")
		}
		r.Failed = int(failed)
		return r, d.Done()
	}
	r.Index = d.Field("index").Uvarint()
	n := d.Field("results").Count(minTxnItemBytes)
	r.Results = make([]OpResult, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		switch kind := d.Field("results.kind").Byte(); kind {
		case txnPut:
			r.Results = append(r.Results, OpResult{Entry: *decodeEntry(d)})
		case txnDelete:
			key := d.Field("results.key").String()
			r.Results = append(r.Results, OpResult{Entry: Entry{Key: key}, Delete: true, Deleted: d.Field("results.deleted").Bool()})
		default:
			d.Fail(fmt.Sprintf("results.kind: unknown kind %d", kind))
		}
	}
	return r, d.Done()
}

// ParseTxnResult decodes a transaction's result as the service does (for
// the envelope's tests, which check every table's results decode).
func ParseTxnResult(r []byte) (TxnResult, error) {
	d, refused := wire.ParseResult(r)
	if refused != nil {
		return TxnResult{}, refused
	}
	return decodeTxnResult(d)
}
