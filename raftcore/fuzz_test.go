package raftcore

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
)

// Declared allocation bound of the forward decoders: requests, queries and
// replies alias their input and allocate nothing; a configuration holds at
// most one Server (48 bytes) per minServerBytes of input plus its strings.
const (
	fwdAllocPerByte = 48/minServerBytes + 1
	fwdAllocFixed   = 4 << 10
)

// FuzzForward: any bytes taken as a forwarded request (the leader's side)
// or as its reply (the forwarder's side) either decode or give
// ErrMalformed, never panic, and stay within the declared allocation bound;
// whatever decodes re-encodes to the same bytes (the format is canonical),
// and a configuration or status reply round-trips through its encoder.
func FuzzForward(f *testing.F) {
	f.Add(encodeForward(opApply, []byte{1, 1, 1, 1, 'k', 1, 'v'}))
	f.Add(encodeForward(opQuery, encodeQuery(ReadConsistent, []byte{1, 1, 1, 1, 'k'})))
	f.Add(encodeForward(opQuery, encodeQuery(ReadStale, nil)))
	f.Add(encodeForward(opRemove, []byte("node-2")))
	f.Add(encodeForward(opConfig, nil))
	f.Add(encodeForward(opStatus, nil))
	f.Add(encodeForward(opContact, nil))
	f.Add([]byte{fwdVersion + 1, opApply})
	f.Add([]byte{fwdVersion, opContactLog + 1})
	f.Add(encodeReply(stOK, encodeContact(contact{term: 9, silentMs: 1200, leader: "node-1"})))
	f.Add(encodeReply(stOK, encodeContactLog(contact{term: 9, silentMs: 1200, hasLog: true, lastIndex: 4981, lastTerm: 8, leader: "node-1"})))
	f.Add(encodeReply(stOK, encodeStatus(1<<40, 7)))
	for _, st := range []byte{stOK, stNotLeader, stUnknown, stUnavailable, stError, stError + 1} {
		f.Add(encodeReply(st, []byte("leader has not yet applied")))
	}
	f.Add(encodeReply(stOK, encodeServers([]Server{
		{ID: "n1", Address: "127.0.0.1:7950", Suffrage: "voter"},
		{ID: "n2", Address: "127.0.0.1:7951", Suffrage: "nonvoter"},
	})))
	f.Add(encodeReply(stOK, encodeServers(nil)))
	f.Add([]byte{stOK, 0xff, 0xff, 0xff, 0xff, 0x0f}) // a server count far above the input
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Bounded(t, "forward decoders", fuzzcheck.Linear(len(data), fwdAllocPerByte, fwdAllocFixed), func() {
			checkForwardRequest(t, data)
			checkForwardReply(t, data)
		})
	})
}

// checkForwardRequest decodes data as the leader does.
func checkForwardRequest(t *testing.T, data []byte) {
	op, body, err := decodeForward(data)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decodeForward: %v does not wrap ErrMalformed", err)
		}
		return
	}
	if got := encodeForward(op, body); !bytes.Equal(got, data) {
		t.Fatalf("request %x re-encodes as %x", data, got)
	}
	if op != opQuery {
		return
	}
	mode, q, err := decodeQuery(body)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decodeQuery: %v does not wrap ErrMalformed", err)
		}
		return
	}
	if mode > ReadConsistent {
		t.Fatalf("decodeQuery accepted mode %d", mode)
	}
	if got := encodeQuery(mode, q); !bytes.Equal(got, body) {
		t.Fatalf("query %x re-encodes as %x", body, got)
	}
}

// checkForwardReply decodes data as the forwarder does, and its body as a
// configuration as a client does.
func checkForwardReply(t *testing.T, data []byte) {
	st, body, err := decodeReply(data)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decodeReply: %v does not wrap ErrMalformed", err)
		}
		return
	}
	if st > stError {
		t.Fatalf("decodeReply accepted status %d", st)
	}
	if got := encodeReply(st, body); !bytes.Equal(got, data) {
		t.Fatalf("reply %x re-encodes as %x", data, got)
	}
	if last, term, err := decodeStatus(body); err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decodeStatus: %v does not wrap ErrMalformed", err)
		}
	} else if l2, t2, err := decodeStatus(encodeStatus(last, term)); err != nil || l2 != last || t2 != term {
		t.Fatalf("status (%d, %d) round trips as (%d, %d), %v", last, term, l2, t2, err)
	}
	if ct, err := decodeContact(body); err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decodeContact: %v does not wrap ErrMalformed", err)
		}
	} else if again, err := decodeContact(encodeContact(ct)); err != nil || again != ct {
		t.Fatalf("contact %+v round trips as %+v, %v", ct, again, err)
	}
	if ct, err := decodeContactLog(body); err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decodeContactLog: %v does not wrap ErrMalformed", err)
		}
	} else if again, err := decodeContactLog(encodeContactLog(ct)); err != nil || again != ct {
		t.Fatalf("contact-log %+v round trips as %+v, %v", ct, again, err)
	}
	servers, err := decodeServers(body)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decodeServers: %v does not wrap ErrMalformed", err)
		}
		return
	}
	again, err := decodeServers(encodeServers(servers))
	if err != nil {
		t.Fatalf("re-encoded configuration %+v: %v", servers, err)
	}
	if len(servers) == 0 && len(again) == 0 {
		return
	}
	if !reflect.DeepEqual(again, servers) {
		t.Fatalf("configuration round trip: %+v, want %+v", again, servers)
	}
}

// A configuration that claims more servers than its bytes can hold is
// refused before anything is allocated for them.
func TestDecodeServersRefusesLyingCounts(t *testing.T) {
	b := encodeServers([]Server{{ID: "a", Address: "b", Suffrage: "c"}})
	b[0] = 2 // two servers, bytes for one
	if _, err := decodeServers(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("decodeServers with a lying count: %v", err)
	}
	huge := append([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, make([]byte, 30)...)
	if _, err := decodeServers(huge); !errors.Is(err, ErrMalformed) {
		t.Fatalf("decodeServers with a huge count: %v", err)
	}
}

// A reply status the protocol does not have is malformed, so that a
// forwarded apply is not retried (and applied twice) on its account.
func TestDecodeReplyRefusesUnknownStatus(t *testing.T) {
	if _, _, err := decodeReply([]byte{stError + 1, 'x'}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unknown status: %v", err)
	}
	if _, _, err := decodeReply(nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty reply: %v", err)
	}
	st, body, err := decodeReply([]byte{stUnknown, 'x'})
	if err != nil || st != stUnknown || string(body) != "x" {
		t.Fatalf("decodeReply(unknown, x) = %d %q %v", st, body, err)
	}
}
