package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
)

func fullMeta() Meta {
	return Meta{
		Role:          "auto",
		Eligible:      true,
		Priority:      -7,
		FailureDomain: "us-east-1a",
		InternodeAddr: "10.0.0.1:7950",
		APIAddr:       "10.0.0.1:7940",
		HTTPAddr:      "10.0.0.1:7941",
		Expect:        3,
		Bootstrap:     BootstrapDone,
		Nonce:         "3f9a1c",
		ClusterID:     "c-1234",
		Leader:        "node-2",
		Term:          math.MaxUint64,
		Leaving:       true,
	}
}

func TestMetaRoundTrip(t *testing.T) {
	tests := map[string]Meta{
		"zero":    {},
		"full":    fullMeta(),
		"client":  {Role: "client", Priority: math.MaxInt, Expect: math.MinInt},
		"pending": {Bootstrap: BootstrapPending, Expect: 3, Nonce: "n"},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := in.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if b[0] != metaVersion {
				t.Fatalf("version byte %d, want %d", b[0], metaVersion)
			}
			out, err := DecodeMeta(b)
			if err != nil {
				t.Fatalf("DecodeMeta: %v", err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
			}
		})
	}
}

func TestMetaZeroIsOneByte(t *testing.T) {
	b, err := Meta{}.Encode()
	if err != nil || len(b) != 1 {
		t.Fatalf("Encode(zero) = %v, %v; want one version byte", b, err)
	}
}

func TestMetaTooLarge(t *testing.T) {
	m := fullMeta()
	m.Nonce = strings.Repeat("x", memberlist.MetaMaxSize)
	if _, err := m.Encode(); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("Encode(oversized) err = %v, want ErrMetaTooLarge", err)
	}
	// Just under the limit still encodes.
	m = Meta{Nonce: strings.Repeat("x", memberlist.MetaMaxSize-4)}
	b, err := m.Encode()
	if err != nil || len(b) > memberlist.MetaMaxSize {
		t.Fatalf("Encode(%d-byte nonce) = %d bytes, %v", len(m.Nonce), len(b), err)
	}
}

func TestMetaUnknownTagSkipped(t *testing.T) {
	in := fullMeta()
	b, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// A field from a future version, in the middle and at the end.
	future := appendField(nil, 99, []byte("from the future"))
	mid := append([]byte{b[0]}, future...)
	mid = append(mid, b[1:]...)
	for name, enc := range map[string][]byte{"middle": mid, "end": append(bytes.Clone(b), future...)} {
		out, err := DecodeMeta(enc)
		if err != nil {
			t.Fatalf("%s: DecodeMeta: %v", name, err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s: got %+v, want %+v", name, out, in)
		}
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	good, err := fullMeta().Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		in   []byte
		want error
	}{
		"empty":           {nil, ErrMetaMalformed},
		"future version":  {[]byte{2}, ErrMetaVersion},
		"version zero":    {[]byte{0}, ErrMetaVersion},
		"oversized":       {append([]byte{1}, make([]byte, memberlist.MetaMaxSize)...), ErrMetaMalformed},
		"truncated value": {good[:len(good)-1], ErrMetaMalformed},
		"truncated tag":   {[]byte{1, 0x80}, ErrMetaMalformed},
		"missing length":  {[]byte{1, byte(tagRole)}, ErrMetaMalformed},
		"length too long": {[]byte{1, byte(tagRole), 5, 'a'}, ErrMetaMalformed},
		"huge length":     {append([]byte{1, byte(tagRole)}, binary.AppendUvarint(nil, math.MaxUint64)...), ErrMetaMalformed},
		"bad bool":        {[]byte{1, byte(tagEligible), 1, 2}, ErrMetaMalformed},
		"long bool":       {[]byte{1, byte(tagEligible), 2, 1, 1}, ErrMetaMalformed},
		"varint trailing": {[]byte{1, byte(tagTerm), 2, 1, 0}, ErrMetaMalformed},
		"empty varint":    {[]byte{1, byte(tagTerm), 0}, ErrMetaMalformed},
		"bootstrap state": {[]byte{1, byte(tagBootstrap), 1, 9}, ErrMetaMalformed},
		"duplicate tag":   {[]byte{1, byte(tagRole), 1, 'a', byte(tagRole), 1, 'b'}, ErrMetaMalformed},
		"garbage":         {[]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrMetaMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeMeta(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeMeta err = %v, want %v", err, tc.want)
			}
			if !reflect.DeepEqual(m, Meta{}) {
				t.Fatalf("DecodeMeta returned %+v with an error, want zero Meta", m)
			}
		})
	}
}

func FuzzDecodeMeta(f *testing.F) {
	good, _ := fullMeta().Encode()
	f.Add(good)
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Add([]byte{2, 1, 1, 'a'})
	f.Add([]byte{1, 99, 3, 'a', 'b', 'c'})
	f.Add([]byte{1, byte(tagTerm), 10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(good[:len(good)/2])
	f.Add(append([]byte{1, byte(tagRole)}, binary.AppendUvarint(nil, 1<<40)...)) // a length far above the input
	f.Fuzz(func(t *testing.T, b []byte) {
		var (
			m   Meta
			err error
		)
		// Declared bound: the strings of one meta, at most
		// memberlist.MetaMaxSize bytes in all (longer input is refused).
		fuzzcheck.Bounded(t, "DecodeMeta", 4<<10, func() { m, err = DecodeMeta(b) })
		if err != nil {
			if !errors.Is(err, ErrMetaMalformed) && !errors.Is(err, ErrMetaVersion) {
				t.Fatalf("DecodeMeta: %v is neither malformed nor a version error", err)
			}
			return
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("re-encoding decoded meta %+v: %v", m, err)
		}
		again, err := DecodeMeta(enc)
		if err != nil {
			t.Fatalf("decoding re-encoded meta: %v", err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed meta:\n got %+v\nwant %+v", again, m)
		}
	})
}
