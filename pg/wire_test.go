package pg

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

// TestWireBytes pins the bytes of every message type: the hex strings were
// written by pg's own codec before it moved onto internal/wire, and
// every node of a cluster must read what the others write.
func TestWireBytes(t *testing.T) {
	for name, c := range map[string]struct {
		msg  []byte
		want string
	}{
		"sync": {encodeSync(Sync{Node: "n1", Version: Version{3, 300}, Groups: []GroupMembers{
			{Key: Key{"default", "chat"}, PIDs: []string{"n1/a", "n1/b"}}, {Key: heartbeatKey, PIDs: []string{"n1/_sys"}},
		}}), "0101026e3103ac02020764656661756c74046368617402046e312f61046e312f62045f7379730968656172746265617401076e312f5f737973"},
		"delta": {encodeDelta(Delta{Node: "n1", Incarnation: 3, Base: 4, Seq: 6, Ops: []Op{
			join(Key{"default", "chat"}, "n1/c"), leave(Key{"app", "cache"}, "n1/a"),
		}}), "0102026e3103040602000764656661756c740463686174046e312f630103617070056361636865046e312f61"},
		"digest":         {encodeDigest(digest{node: "n2", own: Version{1, 2}, known: true, yours: Version{3, 4}}), "0103026e320102010304"},
		"digest unknown": {encodeDigest(digest{node: "n2", own: Version{1, 2}}), "0103026e320102000000"},
		"broadcast": {encodeBroadcast("n1", Message{Key: Key{"default", "chat"}, From: "n1/a", Payload: []byte("hi")}),
			"0104026e310764656661756c740463686174046e312f61026869"},
		"broadcast empty": {encodeBroadcast("n1", Message{Key: Key{"default", "chat"}, From: "n1"}),
			"0104026e310764656661756c740463686174026e3100"},
	} {
		if got := hex.EncodeToString(c.msg); got != c.want {
			t.Errorf("%s: %s, want %s", name, got, c.want)
		}
		if _, err := decodeAny(c.msg); err != nil {
			t.Errorf("%s: decode: %v", name, err)
		}
	}
}

func TestWireRoundTrip(t *testing.T) {
	sy := Sync{Node: "n1", Version: Version{3, 4}, Groups: []GroupMembers{
		{Key: kA, PIDs: []string{"n1/a", "n1/b"}}, {Key: heartbeatKey, PIDs: []string{"n1/_sys"}},
	}}
	typ, d, err := header(encodeSync(sy))
	if err != nil || typ != msgSync {
		t.Fatal(typ, err)
	}
	if got, err := decodeSync(d); err != nil || !reflect.DeepEqual(got, sy) {
		t.Fatalf("sync %+v %v", got, err)
	}
	dl := Delta{Node: "n1", Incarnation: 3, Base: 4, Seq: 6, Ops: []Op{join(kA, "n1/c"), leave(kB, "n1/a")}}
	_, d, _ = header(encodeDelta(dl))
	if got, err := decodeDelta(d); err != nil || !reflect.DeepEqual(got, dl) {
		t.Fatalf("delta %+v %v", got, err)
	}
	dg := digest{node: "n2", own: Version{1, 2}, known: true, yours: Version{3, 4}}
	_, d, _ = header(encodeDigest(dg))
	if got, err := decodeDigest(d); err != nil || got != dg {
		t.Fatalf("digest %+v %v", got, err)
	}
	m := Message{Key: kA, From: "n1/a", Payload: []byte("hi")}
	_, d, _ = header(encodeBroadcast("n1", m))
	if got, err := decodeBroadcast(d); err != nil || got.node != "n1" || !reflect.DeepEqual(got.msg, m) {
		t.Fatalf("broadcast %+v %v", got, err)
	}
}

// TestHandleMalformed feeds bad bytes to a Service: every one is refused
// with ErrMalformed, counted, and changes nothing.
func TestHandleMalformed(t *testing.T) {
	s, _ := newTestService(t, "n2")
	valid := encodeDelta(Delta{Node: "n1", Incarnation: 1, Seq: 1, Ops: []Op{join(kA, "n1/x")}})
	tests := map[string][]byte{
		"empty":          {},
		"version":        {9, msgSync},
		"unknown type":   {wireVersion, 99},
		"truncated":      valid[:len(valid)-3],
		"trailing":       append(append([]byte{}, valid...), 0),
		"huge count":     append([]byte{wireVersion, msgSync}, 2, 'n', '1', 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"foreign pid":    encodeDelta(Delta{Node: "n1", Incarnation: 1, Seq: 1, Ops: []Op{join(kA, "n3/x")}}),
		"bad group name": encodeDelta(Delta{Node: "n1", Incarnation: 1, Seq: 1, Ops: []Op{join(Key{"default", "a\x00"}, "n1/x")}}),
		"ops vs seq":     encodeDelta(Delta{Node: "n1", Incarnation: 1, Seq: 5, Ops: []Op{join(kA, "n1/x")}}),
		"bad op":         append([]byte{wireVersion, msgDelta}, 2, 'n', '1', 1, 0, 1, 1, 7),
	}
	n := uint64(0)
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Handle(t.Context(), "peer", b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want ErrMalformed", err)
			}
			n++
			if got := s.Stats().Malformed; got != n {
				t.Fatalf("malformed count %d, want %d", got, n)
			}
			if g, _, _ := s.Counts(); g != 0 {
				t.Fatalf("state changed: %d groups", g)
			}
		})
	}
}
