package pg

import (
	"errors"
	"testing"
)

func TestSender(t *testing.T) {
	for name, msg := range map[string][]byte{
		"sync":      encodeSync(Sync{Node: "n1"}),
		"delta":     encodeDelta(Delta{Node: "n1"}),
		"digest":    encodeDigest(digest{node: "n1"}),
		"broadcast": encodeBroadcast("n1", Message{Key: Key{Scope: "s", Group: "g"}}),
	} {
		if got, err := Sender(msg); err != nil || got != "n1" {
			t.Errorf("%s: Sender = %q, %v; want n1", name, got, err)
		}
	}
	for name, msg := range map[string][]byte{
		"empty":         nil,
		"wrong version": {9, msgSync, 2, 'n', '1'},
		"truncated":     {wireVersion, msgSync, 5, 'n'},
	} {
		if _, err := Sender(msg); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}
