package cluster

import (
	"bytes"
	"testing"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The envelope dispatches every command type to its table: applied in
// order, each of seedCommands is accepted (status OK), and each, cut short
// by a byte or given a byte too many, is refused as invalid by every
// replica alike, counted, and changes nothing.
func TestFSMDispatchesEveryCommandType(t *testing.T) {
	f := newTestFSM()
	for i, c := range seedCommands() {
		r := applyAt(f, uint64(i+1), c)
		if _, refused := wire.ParseResult(r); refused != nil {
			t.Fatalf("command %d (table %d op %d): refused: %v (code %d)", i, c[1], c[2], refused, refused.Code)
		}
	}
	if f.rejected.Load() != 0 {
		t.Fatalf("%d commands rejected", f.rejected.Load())
	}
	before := persist(t, f)
	index := uint64(100)
	for i, c := range seedCommands() {
		for what, bad := range map[string][]byte{
			"truncated": c[:len(c)-1],
			"trailing":  append(append([]byte(nil), c...), 0x7f),
		} {
			index++
			rejected := f.rejected.Load()
			r := applyAt(f, index, bad)
			if _, refused := wire.ParseResult(r); refused == nil || refused.Code != wire.Invalid {
				t.Errorf("command %d (table %d op %d) %s: result %x, want invalid", i, c[1], c[2], what, r)
			}
			if f.rejected.Load() != rejected+1 {
				t.Errorf("command %d (table %d op %d) %s: not counted as rejected", i, c[1], c[2], what)
			}
		}
	}
	if after := persist(t, f); !bytes.Equal(after, before) {
		t.Fatal("refused commands changed the state")
	}
	for what, bad := range map[string][]byte{
		"empty":          {},
		"header only":    {wire.CommandVersion, tableKV},
		"unknown table":  {wire.CommandVersion, 77, 1},
		"unknown op kv":  {wire.CommandVersion, tableKV, 99},
		"unknown op lk":  {wire.CommandVersion, tableLocks, 99},
		"unknown op nm":  {wire.CommandVersion, tableNames, 99},
		"unknown op adm": {wire.CommandVersion, tableAdmission, 99},
		"bad version":    {wire.CommandVersion + 1, tableKV, kvPut},
	} {
		index++
		r := applyAt(f, index, bad)
		if _, refused := wire.ParseResult(r); refused == nil || refused.Code != wire.Invalid {
			t.Errorf("%s: result %x, want invalid", what, r)
		}
		if f.Screen(bad) == nil {
			t.Errorf("%s: the leader's screen let it through", what)
		}
	}
	if after := persist(t, f); !bytes.Equal(after, before) {
		t.Fatal("refused commands changed the state")
	}
}
