package internode

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 64 << 10, 64<<10 + 1, 1 << 20} {
		p := bytes.Repeat([]byte{byte(n)}, n)
		buf := appendFrame(nil, p)
		got, err := readFrame(bufio.NewReader(bytes.NewReader(buf)), 1<<20)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("n=%d: payload differs (len %d)", n, len(got))
		}
	}
}

func TestReadFrameBadInput(t *testing.T) {
	tests := map[string]struct {
		in   []byte
		want error
	}{
		"empty":            {nil, ErrMalformed},
		"truncated length": {[]byte{0x80}, ErrMalformed},
		"truncated body":   {appendFrame(nil, make([]byte, 10))[:5], ErrMalformed},
		"truncated large":  {appendFrame(nil, make([]byte, 200<<10))[:100<<10], ErrMalformed},
		"oversize":         {appendFrame(nil, make([]byte, 101)), ErrFrameTooLarge},
		"huge length":      {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrFrameTooLarge},
		"varint overflow":  {bytes.Repeat([]byte{0xff}, 11), ErrMalformed},
		"varint 10th byte": {append(bytes.Repeat([]byte{0xff}, 9), 0x02), ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			max := 100
			if name == "truncated large" {
				max = 1 << 20
			}
			_, err := readFrame(bufio.NewReader(bytes.NewReader(tc.in)), max)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	if ClassRaft.String() != "raft" || ClassForward.String() != "forward" || Class(9).String() != "class(9)" {
		t.Fatal("class names")
	}
	if Class(0).valid() || Class(oneWay).valid() || !ClassAck.valid() {
		t.Fatal("class validity")
	}
}
