package raftcore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
	"github.com/conclave-dev/conclave/internal/wire"
)

func applyAdmission(a *Admissions, index uint64, cmd []byte) ([]byte, error) {
	_, op, d, err := wire.ParseCommand(cmd)
	if err != nil {
		return nil, err
	}
	return a.Apply(index, op, d)
}

func persistAdmissions(t *testing.T, a *Admissions) []byte {
	t.Helper()
	w, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if w == nil {
		return nil
	}
	var b bytes.Buffer
	if err := w(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The admitted set is replicated state of its own table: admit commands
// add to it, bad ones are refused (by the leader's screen and at apply)
// and change nothing, and it survives a snapshot and restore.
func TestAdmittedSet(t *testing.T) {
	a := NewAdmissions()
	if _, err := applyAdmission(a, 1, AdmitCommand("n4")); err != nil {
		t.Fatalf("admit: %v", err)
	}
	if _, err := applyAdmission(a, 2, AdmitCommand("n4")); err != nil { // twice is fine
		t.Fatalf("admit again: %v", err)
	}
	for name, cmd := range map[string][]byte{
		"empty name": AdmitCommand(""),
		"slash":      AdmitCommand("a/b"),
		"too long":   AdmitCommand(strings.Repeat("n", 129)),
		"unknown op": {wire.CommandVersion, AdmissionTableID, 9},
		"trailing":   append(AdmitCommand("n5"), 0),
	} {
		_, op, d, _ := wire.ParseCommand(cmd)
		if a.Screen(op, d) == nil {
			t.Errorf("%s: the screen let it through", name)
		}
		if _, err := applyAdmission(a, 3, cmd); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	if got := strings.Join(a.Nodes(), " "); got != "n4" {
		t.Fatalf("admitted %q, want n4", got)
	}
	section := persistAdmissions(t, a)
	b := NewAdmissions()
	commit, err := b.Restore(bufio.NewReader(bytes.NewReader(section)))
	if err != nil {
		t.Fatal(err)
	}
	commit()
	if !b.Admitted("n4") || b.Admitted("n5") {
		t.Fatalf("restored admitted set %v", b.Nodes())
	}
	// An empty set writes no section, and restoring none empties the set.
	if s := persistAdmissions(t, NewAdmissions()); s != nil {
		t.Fatalf("empty set wrote a section: %x", s)
	}
	commit, err = b.Restore(nil)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	if b.Admitted("n4") {
		t.Fatalf("restore of no section kept %v", b.Nodes())
	}
}

// FuzzAdmitted: any bytes handed to the admitted-set section decoder
// decode or fail, never panic, within the declared allocation bound, and
// what decodes re-encodes to the same set.
func FuzzAdmitted(f *testing.F) {
	f.Add(encodeAdmitted(map[string]uint64{"n1": 3, "n2": 1 << 40}))
	f.Add([]byte{6, 0xff, 0xff, 0xff, 0x1f, 1, 'n'})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Bounded(t, "decodeAdmitted", fuzzcheck.Linear(len(data), 64, 4<<10), func() {
			if adm, err := decodeAdmitted(data); err == nil {
				again, err := decodeAdmitted(encodeAdmitted(adm))
				if err != nil || !reflect.DeepEqual(again, adm) {
					t.Fatalf("admitted set %v round trips as %v, %v", adm, again, err)
				}
			}
		})
	})
}

// An admitted-set section that claims as many servers as its bytes allow,
// then holds garbage, costs what it holds, not a map sized by its count.
func TestDecodeAdmittedBoundsItsMap(t *testing.T) {
	const size = 1 << 20
	b := binary.AppendUvarint(nil, size/minAdmittedBytes)
	b = append(b, make([]byte, size)...) // empty names: refused at the first
	fuzzcheck.Bounded(t, "decodeAdmitted", fuzzcheck.Linear(len(b), 4, 4<<10), func() {
		if _, err := decodeAdmitted(b); err == nil {
			t.Fatal("decodeAdmitted accepted empty node names")
		}
	})
}
