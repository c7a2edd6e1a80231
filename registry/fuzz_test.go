package registry

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
	"github.com/conclave-dev/conclave/internal/wire"
)

// Declared allocation bounds (fuzzcheck adds its slack): a decoded
// instance with its strings, map and index entries costs a few hundred
// bytes per input byte at worst; the fixed part is an empty table and a
// snapshot's frame buffer.
const (
	registryAllocPerByte = 512
	registryAllocFixed   = 256 << 10
)

func seedCommands() [][]byte {
	r := reg("web", "w1", "10.0.0.1:80", "v1")
	r.Meta = map[string]string{"k": "v"}
	r.Checks = []Check{{Kind: CheckHTTP, Interval: 2 * time.Second, Timeout: time.Second, FailuresBeforeCritical: 2}}
	return [][]byte{
		registerCmd("n1/a", r),
		registerCmd("n2/b", reg("web", "w1", "10.0.0.2:80")),
		Deregister{Service: "web", ID: "w1"}.Marshal(),
		Deregister{Service: "web", ID: "w1", PID: "n1/a"}.Marshal(),
		SetHealth{Service: "web", ID: "w1", PID: "n1/a", Health: Critical, Output: "x", LastSeen: t0, Now: t0}.Marshal(),
		LastSeen{Node: "n1", Now: t0, Items: []Seen{{Service: "web", ID: "w1", PID: "n1/a", At: t0}}}.Marshal(),
	}
}

// FuzzTableApply: a registry command of arbitrary bytes is applied or
// refused, never a panic, within the declared allocation bound; Screen
// and Apply agree; a command refused as malformed changes nothing.
func FuzzTableApply(f *testing.F) {
	for _, c := range seedCommands() {
		f.Add(c[2:]) // op and fields, after the version and the table
	}
	f.Add([]byte{opRegister, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		tb := sampleTable(t)
		before := snapshotBytes(t, tb)
		op, fields := data[0], data[1:]
		screen := tb.Screen(op, wire.NewDecoder(fields))
		var err error
		fuzzcheck.Bounded(t, "Apply", fuzzcheck.Linear(len(data), registryAllocPerByte, registryAllocFixed), func() {
			_, err = tb.Apply(100, op, wire.NewDecoder(fields))
		})
		if (err == nil) != (screen == nil) {
			t.Fatalf("screen says %v, apply %v", screen, err)
		}
		if err != nil && !bytes.Equal(snapshotBytes(t, tb), before) {
			t.Fatalf("a refused command changed the table: %v", err)
		}
		_, _ = tb.Instances(Filter{})
		_ = tb.ReleaseNode(101, t0, "n1")
	})
}

// FuzzTableRestore: a snapshot section of arbitrary bytes is restored or
// refused, never a panic, within the declared bound; a restored one
// re-encodes to a section that restores to the same bytes.
func FuzzTableRestore(f *testing.F) {
	snap := snapshotBytes(f, sampleTableTB(f))
	f.Add(snap)
	f.Add(snap[:len(snap)/2])
	f.Add([]byte{0x05, 0x01, 0x01, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		tb := NewTable()
		var (
			commit func()
			err    error
		)
		fuzzcheck.Bounded(t, "Restore", fuzzcheck.Linear(len(data), registryAllocPerByte, registryAllocFixed), func() {
			commit, err = tb.Restore(bufio.NewReader(bytes.NewReader(data)))
		})
		if err != nil {
			return
		}
		commit()
		enc1 := snapshotBytes(t, tb)
		cp := NewTable()
		c2, err := cp.Restore(bufio.NewReader(bytes.NewReader(enc1)))
		if err != nil {
			if enc1 == nil {
				return // an untouched table writes no section
			}
			t.Fatalf("a restored table's own snapshot is refused: %v", err)
		}
		c2()
		if enc2 := snapshotBytes(t, cp); !bytes.Equal(enc1, enc2) {
			t.Fatalf("snapshot not stable: %x then %x", enc1, enc2)
		}
		_, _ = cp.Instances(Filter{Tag: "v1"})
		_, _ = cp.Services()
		_ = cp.ReleaseSession(1, t0, "n1/a")
	})
}
