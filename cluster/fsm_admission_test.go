package cluster

import (
	"github.com/conclave-dev/conclave/internal/wire"

	"bytes"
	"io"
	"strings"
	"testing"
)

func admitCmd(node string) []byte {
	c := wire.Command(tableAdmission, adAdmit)
	c.String(node)
	return c.Data()
}

// The admitted set is replicated state of its own table: admit commands add
// to it, bad ones are refused and change nothing, and it survives a
// snapshot and restore.
func TestFSMAdmittedSet(t *testing.T) {
	f := newTestFSM()
	if r := applyAt(f, 1, admitCmd("n4")); r[0] != resOK {
		t.Fatalf("admit: status %d", r[0])
	}
	applyAt(f, 2, admitCmd("n4")) // twice is fine
	for name, cmd := range map[string][]byte{
		"empty name":    admitCmd(""),
		"slash":         admitCmd("a/b"),
		"too long":      admitCmd(strings.Repeat("n", 129)),
		"unknown op":    {cmdVersion, tableAdmission, 9},
		"trailing":      append(admitCmd("n5"), 0),
		"kv under _sys": putCmd("_sys/admitted/n6", ""),
	} {
		if f.Screen(cmd) == nil {
			t.Errorf("%s: the screen let it through", name)
		}
		if r := applyAt(f, 3, cmd); r[0] != resInvalid {
			t.Errorf("%s: status %d, want invalid", name, r[0])
		}
	}
	if got := strings.Join(f.admission.nodes(), " "); got != "n4" {
		t.Fatalf("admitted %q, want n4", got)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newTestFSM()
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !g.admission.isAdmitted("n4") || g.admission.isAdmitted("n5") {
		t.Fatalf("restored admitted set %v", g.admission.nodes())
	}
	// A snapshot without admissions restores to an empty set.
	h := newTestFSM()
	snap, _ = h.Snapshot()
	sink = memSink{}
	_ = snap.Persist(&sink)
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil || g.admission.isAdmitted("n4") {
		t.Fatalf("restore of an empty snapshot: %v, admitted %v", err, g.admission.nodes())
	}
}
