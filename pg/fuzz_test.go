package pg

import (
	"errors"
	"reflect"
	"testing"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
)

// Declared allocation bound of the groups wire decoders (fuzzcheck adds its
// slack): strings and byte strings alias or copy their input, and each
// list element (an Op of 56 bytes, a PID string header, a group of 56
// bytes) takes at least two input bytes and grows its slice by doubling.
const (
	pgAllocPerByte = 128
	pgAllocFixed   = 4 << 10
)

// seedMessages are real messages of every type from node "n2", as its
// Service would send them.
func seedMessages() [][]byte {
	st := NewState("n2", 7)
	k1, k2 := Key{Scope: "default", Group: "workers"}, Key{Scope: "app", Group: "cache"}
	d1, _ := st.Join(k1, "n2/s1")
	d2, _ := st.Join(k2, "n2/s2")
	d3, _ := st.Leave(k1, "n2/s1")
	return [][]byte{
		encodeSync(st.LocalSync()),
		encodeSync(NewState("n2", 8).LocalSync()),
		encodeDelta(d1),
		encodeDelta(d2),
		encodeDelta(d3),
		encodeDigest(digest{node: "n2", own: Version{7, 3}, known: true, yours: Version{1, 0}}),
		encodeDigest(digest{node: "n2", own: Version{7, 3}}),
		encodeBroadcast("n2", Message{Key: k1, From: "n2/s1", Payload: []byte("hello")}),
		encodeBroadcast("n2", Message{Key: k2, From: "n2"}),
	}
}

// FuzzWire: any two messages of class "groups", decoded and applied in turn
// to a node's membership table as Handle does, are refused with
// ErrMalformed or applied, never a panic, within the declared allocation
// bound; whatever decodes re-encodes to a message that decodes to the same
// value; an applied sync's members are all in the table afterwards.
func FuzzWire(f *testing.F) {
	msgs := seedMessages()
	for i, m := range msgs {
		f.Add(m, msgs[(i+3)%len(msgs)])
	}
	f.Add([]byte{wireVersion, msgSync, 2, 'n', '2', 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{})
	f.Add([]byte{wireVersion + 1, msgDigest}, []byte{wireVersion, 99})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		st := NewState("n1", 1)
		for _, msg := range [][]byte{a, b} {
			fuzzcheck.Bounded(t, "groups decode", fuzzcheck.Linear(len(msg), pgAllocPerByte, pgAllocFixed), func() {
				_, _ = decodeAny(msg)
			})
			v, err := decodeAny(msg)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("decode %x: %v does not wrap ErrMalformed", msg, err)
				}
				continue
			}
			again, err := decodeAny(encodeAny(v))
			if err != nil || !reflect.DeepEqual(again, v) {
				t.Fatalf("%#v round trips as %#v, %v", v, again, err)
			}
			switch m := v.(type) {
			case Sync:
				applied, _ := st.ApplySync(m)
				if !applied {
					break
				}
				for _, g := range m.Groups {
					members := st.Members(g.Key)
					for _, pid := range g.PIDs {
						if !contains(members, pid) {
							t.Fatalf("after sync %+v, %s is not a member of %v: %v", m, pid, g.Key, members)
						}
					}
				}
			case Delta:
				st.ApplyDelta(m)
			}
			if _, _, total := st.Counts(); total < 0 {
				t.Fatalf("negative member count %d", total)
			}
		}
	})
}

// decodeAny decodes a message of any type, as Handle does.
func decodeAny(b []byte) (any, error) {
	typ, d, err := header(b)
	if err != nil {
		return nil, err
	}
	switch typ {
	case msgSync:
		return decodeSync(d)
	case msgDelta:
		return decodeDelta(d)
	case msgDigest:
		return decodeDigest(d)
	case msgBroadcast:
		return decodeBroadcast(d)
	}
	return nil, ErrMalformed
}

func encodeAny(v any) []byte {
	switch m := v.(type) {
	case Sync:
		return encodeSync(m)
	case Delta:
		return encodeDelta(m)
	case digest:
		return encodeDigest(m)
	case broadcastMsg:
		return encodeBroadcast(m.node, m.msg)
	}
	panic("encodeAny: unknown message")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
