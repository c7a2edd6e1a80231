package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// ErrMalformed is what a Decoder reports for truncated, oversized or
// trailing input.
var ErrMalformed = errors.New("malformed encoding")

// Encoder appends fields to a byte slice: bytes and bools as one byte,
// numbers as uvarints, strings and byte strings as a uvarint length and the
// bytes. It is the one binary form of commands, results, queries and
// snapshot records: compact, with no reflection on the hot path.
type Encoder struct{ b []byte }

// NewEncoder starts an encoding with the given leading bytes, with room
// for a small command or result, so most encodings allocate once.
func NewEncoder(prefix ...byte) *Encoder {
	b := make([]byte, len(prefix), max(len(prefix), encoderCap))
	copy(b, prefix)
	return &Encoder{b: b}
}

// encoderCap is an Encoder's first capacity: a command or result with a
// short key or name and a few numbers.
const encoderCap = 64

// Data is the encoding so far; the Encoder keeps appending to it.
func (e *Encoder) Data() []byte { return e.b }

// Byte appends one byte.
func (e *Encoder) Byte(v byte) { e.b = append(e.b, v) }

// Bool appends 1 for true, 0 for false.
func (e *Encoder) Bool(v bool) {
	if v {
		e.b = append(e.b, 1)
		return
	}
	e.b = append(e.b, 0)
}

// Uvarint appends v as a uvarint.
func (e *Encoder) Uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

// Bytes appends v with its length.
func (e *Encoder) Bytes(v []byte) {
	e.Uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

// String appends v with its length.
func (e *Encoder) String(v string) {
	e.Uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

// Time appends t as Unix nanoseconds, 0 for the zero time.
func (e *Encoder) Time(t time.Time) { e.Uvarint(TimeNanos(t)) }

// Duration appends a non-negative duration in nanoseconds (a negative one
// as 0).
func (e *Encoder) Duration(d time.Duration) { e.Uvarint(uint64(max(d, 0))) }

// TimeNanos is t as Unix nanoseconds, 0 for the zero time (or any time
// before 1970, which no replicated clock reading is).
func TimeNanos(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

// NanosTime is TimeNanos's inverse: 0 is the zero time; other values are
// UTC.
func NanosTime(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns)).UTC()
}

// Decoder reads what an Encoder wrote. The first error sticks and later
// reads return zero values, so a caller reads every field and checks Done
// (or Err) once at the end.
type Decoder struct {
	b     []byte
	err   error
	field string // named by Field, for the errors of reads
}

// NewDecoder reads b. Bytes and Strings it returns never alias b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Fail records a malformed input the caller found (what says which field
// and why) unless an error is already recorded.
func (d *Decoder) Fail(what string) {
	if d.err == nil {
		if what == "" {
			d.err = ErrMalformed
			return
		}
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

// Field names the field the next reads fill, so that a read that fails
// says which ("malformed encoding: scope: length exceeds the input or the
// limit"). The name holds until the next Field call; Field returns d, for
// d.Field("scope").String().
func (d *Decoder) Field(name string) *Decoder {
	d.field = name
	return d
}

// fail is a read's failure: Fail, naming the field being read if any.
func (d *Decoder) fail(what string) {
	switch {
	case d.field == "":
		d.Fail(what)
	case what == "":
		d.Fail(d.field)
	default:
		d.Fail(d.field + ": " + what)
	}
}

// Err is the sticky error, nil if every read so far succeeded.
func (d *Decoder) Err() error { return d.err }

// Done reports the sticky error, or ErrMalformed if input is left over.
func (d *Decoder) Done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return d.err
}

// Rest returns the unread input (aliasing it) and consumes it.
func (d *Decoder) Rest() []byte {
	if d.err != nil {
		return nil
	}
	r := d.b
	d.b = nil
	return r
}

// Len is how many bytes are left to read.
func (d *Decoder) Len() int { return len(d.b) }

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Bool reads a byte written by Encoder.Bool: 1 is true, anything else
// false.
func (d *Decoder) Bool() bool { return d.Byte() == 1 }

// Uvarint reads a uvarint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Time reads what Encoder.Time wrote.
func (d *Decoder) Time() time.Time { return NanosTime(d.Uvarint()) }

// Duration reads what Encoder.Duration wrote; a value past the largest
// duration is malformed.
func (d *Decoder) Duration() time.Duration {
	v := d.Uvarint()
	if v > 1<<63-1 {
		d.fail("duration out of range")
		return 0
	}
	return time.Duration(v)
}

// Count reads a collection length and refuses one whose elements, each at
// least minBytes long when encoded, cannot fit in what is left: a corrupt
// length cannot make a decoder allocate more than its input holds.
func (d *Decoder) Count(minBytes int) int {
	n := d.Uvarint()
	if d.err != nil || n > uint64(len(d.b)/max(minBytes, 1)) {
		d.fail("count exceeds the input")
		return 0
	}
	return int(n)
}

func (d *Decoder) raw(limit int) []byte {
	n := d.Uvarint()
	if d.err != nil || n > uint64(len(d.b)) || (limit >= 0 && n > uint64(limit)) {
		d.fail("length exceeds the input or the limit")
		return nil
	}
	v := make([]byte, n)
	copy(v, d.b[:n])
	d.b = d.b[n:]
	return v
}

// Bytes reads a byte string (a copy; empty, not nil, when its length is 0).
func (d *Decoder) Bytes() []byte { return d.raw(-1) }

// BytesMax reads a byte string of at most limit bytes (longer is
// malformed); nil when its length is 0.
func (d *Decoder) BytesMax(limit int) []byte {
	v := d.raw(limit)
	if len(v) == 0 {
		return nil
	}
	return v
}

// String reads a string.
func (d *Decoder) String() string { return d.StringMax(-1) }

// StringMax reads a string of at most limit bytes (longer is malformed); a
// negative limit is no limit.
func (d *Decoder) StringMax(limit int) string {
	n := d.Uvarint()
	if d.err != nil || n > uint64(len(d.b)) || (limit >= 0 && n > uint64(limit)) {
		d.fail("length exceeds the input or the limit")
		return ""
	}
	v := string(d.b[:n])
	d.b = d.b[n:]
	return v
}

// MaxFrame bounds one length-framed record read by ReadFrame (a snapshot
// section or entry), so a corrupt length cannot make a reader allocate
// without limit.
const MaxFrame = 64 << 20

// frameChunk is what a frame's buffer starts at; it grows (doubling) only
// as the frame's bytes arrive, so a corrupt length in a short input costs
// about what the input holds, not MaxFrame.
const frameChunk = 64 << 10

// WriteFrame writes b with its uvarint length.
func WriteFrame(w io.Writer, b []byte) error {
	var n [binary.MaxVarintLen64]byte
	if _, err := w.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// ReadFrame reads what WriteFrame wrote, refusing a length over MaxFrame.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	u, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if u > MaxFrame {
		return nil, fmt.Errorf("%w: record of %d bytes exceeds %d", ErrMalformed, u, MaxFrame)
	}
	n := int(u)
	b := make([]byte, 0, min(n, frameChunk))
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(n-len(b), cap(b)))
		}
		k, err := io.ReadFull(r, b[len(b):min(n, cap(b))])
		b = b[:len(b)+k]
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}
