package naming

import (
	"encoding/binary"
	"errors"
)

// errMalformed is what the decoders return for truncated or oversized input.
var errMalformed = errors.New("naming: malformed encoding")

// enc appends uvarint-framed fields; dec reads them back. The first decode
// error sticks and later reads return zero values, so callers check once.
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

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errMalformed
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

// count reads a collection length, refusing one that cannot fit in what
// is left (each element takes at least one byte), so a corrupt length
// cannot make the decoder allocate without limit.
func (d *dec) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) raw(limit int) []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) || n > uint64(limit) {
		d.fail()
		return nil
	}
	v := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return v
}

func (d *dec) bytes(limit int) []byte {
	v := d.raw(limit)
	if len(v) == 0 {
		return nil
	}
	return v
}

func (d *dec) string(limit int) string { return string(d.raw(limit)) }

// done reports the sticky error, or an error if bytes are left over.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errMalformed
	}
	return d.err
}
