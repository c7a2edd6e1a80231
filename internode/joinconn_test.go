package internode

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

// writesConn records each Write it gets.
type writesConn struct {
	net.Conn
	writes [][]byte
}

func (c *writesConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func yamuxHeader(typ byte, length uint32) []byte {
	h := make([]byte, yamuxHeaderSize)
	h[1] = typ
	binary.BigEndian.PutUint32(h[4:], 7)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

// A data frame's header and body leave in one Write; a frame without a
// body (a window update, an empty data frame) and a body too large to copy
// leave as they come, in order.
func TestJoinConnJoinsDataHeaderAndBody(t *testing.T) {
	rec := &writesConn{}
	c := joinFrames(rec)
	body := []byte("hello")
	big := bytes.Repeat([]byte{'x'}, maxJoined+1)
	frames := [][]byte{
		yamuxHeader(yamuxTypeData, uint32(len(body))), body,
		yamuxHeader(1, 256<<10), // window update: its length is no body
		yamuxHeader(yamuxTypeData, 0),
		yamuxHeader(yamuxTypeData, uint32(len(big))), big,
	}
	for _, f := range frames {
		if n, err := c.Write(f); n != len(f) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(f), n, err)
		}
	}
	want := [][]byte{
		append(append([]byte(nil), frames[0]...), body...),
		frames[2], frames[3], frames[4], big,
	}
	if len(rec.writes) != len(want) {
		t.Fatalf("%d writes, want %d", len(rec.writes), len(want))
	}
	for i := range want {
		if !bytes.Equal(rec.writes[i], want[i]) {
			t.Fatalf("write %d: %d bytes %x..., want %d bytes %x...", i, len(rec.writes[i]), rec.writes[i][:min(16, len(rec.writes[i]))], len(want[i]), want[i][:min(16, len(want[i]))])
		}
	}
}
