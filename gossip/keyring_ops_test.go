package gossip

import (
	"errors"
	"reflect"
	"testing"

	"github.com/conclave-dev/conclave/internal/wire"
)

// FuzzKeyringReply: any bytes handed to the keyring reply decoder decode
// or fail as malformed, never panic, and what decodes re-encodes to the
// same values.
func FuzzKeyringReply(f *testing.F) {
	f.Add(encodeKeyringReply("k1", []string{"k1", "k2"}))
	f.Add([]byte{keyringVersion, 0, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		primary, keys, err := decodeKeyringReply(data)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("decodeKeyringReply: %v is not malformed", err)
			}
			return
		}
		p2, k2, err := decodeKeyringReply(encodeKeyringReply(primary, keys))
		if err != nil || p2 != primary || !reflect.DeepEqual(k2, keys) {
			t.Fatalf("keyring reply %q %q round trips as %q %q, %v", primary, keys, p2, k2, err)
		}
	})
}

func TestSummariseKeys(t *testing.T) {
	got := summariseKeys([]KeyringNodeResult{
		{Node: "n1", Primary: "a", Keys: []string{"a", "b"}},
		{Node: "n2", Primary: "b", Keys: []string{"b"}},
		{Node: "n3", Err: errors.New("no answer")},
	})
	want := []KeyringKeySummary{{Key: "a", Nodes: 1, PrimaryOn: 1}, {Key: "b", Nodes: 2, PrimaryOn: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("summary = %+v, want %+v", got, want)
	}
}
