package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errShort is returned by the decoder for truncated or oversized input.
var errShort = errors.New("cluster: truncated or malformed encoding")

// enc appends uvarint-framed fields to a byte slice. It is the one binary
// form of FSM commands, results, queries and snapshots: compact, with no
// reflection on the hot path.
type enc struct{ b []byte }

func (e *enc) byte(v byte)      { e.b = append(e.b, v) }
func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) bytes(v []byte) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) string(v string) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

// dec reads what enc wrote. The first error sticks; later reads return
// zero values, so callers check err once at the end.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errShort
	}
}

func (d *dec) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns a copy, so the result does not alias the input buffer.
func (d *dec) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}

// count reads a collection length and refuses one whose elements, each at
// least minBytes long when encoded, cannot fit in what is left: a corrupt
// length cannot make the decoder allocate more than its input holds.
func (d *dec) count(minBytes int) int {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)/minBytes) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

// done reports the sticky error, or an error if input is left over.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errShort, len(d.b))
	}
	return d.err
}
