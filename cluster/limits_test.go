package cluster

import (
	"github.com/conclave-dev/conclave/internal/wire"

	"bytes"
	"errors"
	"strings"
	"testing"
)

// A command over a limit is refused at apply, on every replica alike, with
// an InvalidArgument answer that names the problem, and changes nothing; the
// leader's screen refuses the same commands before they are proposed.
func TestFSMAndScreenEnforceLimits(t *testing.T) {
	big := strings.Repeat("x", 3<<20)
	cas := func(key string, value []byte) []byte {
		c := wire.Command(tableKV, kvCAS)
		c.String(key)
		c.Bytes(value)
		c.Uvarint(0)
		return c.Data()
	}
	del := wire.Command(tableKV, kvDelete)
	del.String("_sys/keep")
	del.Uvarint(0)
	tests := map[string]struct {
		cmd  []byte
		want string
	}{
		"3 MB value":            {putCmd("k", big), "command: 3145737 bytes, the limit is 525376"},
		"value over the limit":  {putCmd("k", strings.Repeat("v", MaxValueBytes+1)), "value: 524289 bytes, the limit is 524288"},
		"key over the limit":    {putCmd(strings.Repeat("k", MaxKeyBytes+1), "v"), "key: 1025 bytes, the limit is 1024"},
		"put under _sys/":       {putCmd("_sys/admin", "v"), `key: the prefix "_sys" is reserved`},
		"cas under _sys/":       {cas("_sys/admin", []byte("v")), `key: the prefix "_sys" is reserved`},
		"delete under _sys/":    {del.Data(), `key: the prefix "_sys" is reserved`},
		"empty key":             {putCmd("", "v"), "key: must not be empty"},
		"key not UTF-8":         {putCmd("\xff", "v"), "key: not valid UTF-8"},
		"unknown table at size": {append([]byte{cmdVersion, 77, 1}, bytes.Repeat([]byte{0}, maxCommandBytes)...), "command:"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newTestFSM()
			applyAt(f, 1, putCmd("keep", "v"))
			screened := f.Screen(tc.cmd)
			if screened == nil {
				t.Fatal("screen let the command through")
			}
			r := applyAt(f, 2, tc.cmd)
			if !bytes.Equal(r, screened) {
				t.Fatalf("apply answered %q, the screen %q: the proposer must see one answer", r, screened)
			}
			st := r[0]
			err := resultErr(r)
			if st != resInvalid || !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("status %d, error %v; want InvalidArgument containing %q", st, err, tc.want)
			}
			if strings.Count(err.Error(), ErrInvalidArgument.Error()) > 1 {
				t.Fatalf("error %q repeats its prefix", err)
			}
			if f.kv.Len() != 1 {
				t.Fatalf("a refused command changed state: %d keys", f.kv.Len())
			}
			if f.rejected.Load() != 1 {
				t.Fatalf("rejected %d, want 1", f.rejected.Load())
			}
		})
	}
	lockCmd := func(op byte, fields ...string) []byte {
		c := wire.Command(tableLocks, op)
		for _, f := range fields {
			c.String(f)
		}
		for i := 0; i < 3; i++ {
			c.Uvarint(0)
		}
		return c.Data()
	}
	nameCmd := func(name, pid string, meta []byte) []byte {
		c := wire.Command(tableNames, nmRegister)
		c.String(name)
		c.String(pid)
		c.Bytes(meta)
		c.Uvarint(1)
		return c.Data()
	}
	// Lock and name commands: the screen refuses what their tables refuse
	// at apply, with the same message.
	for name, tc := range map[string]struct {
		cmd  []byte
		want string
	}{
		"lock under _sys":   {lockCmd(lkAcquire, "_sys/x", "n1/s"), `the prefix "_sys" is reserved`},
		"lock name too big": {lockCmd(lkAcquire, strings.Repeat("l", 300), "n1/s"), "is 300 bytes, the limit is 256"},
		"lock bad pid":      {lockCmd(lkAcquire, "l", "nopid"), "is not <node>/<session-id>"},
		"name under _sys":   {nameCmd("_sys/x", "n1/s", nil), `the prefix "_sys" is reserved`},
		"name meta too big": {nameCmd("x", "n1/s", make([]byte, 5000)), "metadata: is 5000 bytes, the limit is 4096"},
	} {
		f := newTestFSM()
		screened := f.Screen(tc.cmd)
		if screened == nil || !strings.Contains(string(screened), tc.want) {
			t.Errorf("%s: screen answered %q, want a refusal with %q", name, screened, tc.want)
			continue
		}
		d := wire.NewDecoder(applyAt(f, 1, tc.cmd))
		if st := d.Byte(); st != resInvalid || !strings.Contains(d.String(), tc.want) {
			t.Errorf("%s: apply status %d, want invalid with %q", name, st, tc.want)
		}
		if f.locks.Held() != 0 || f.names.Len() != 0 {
			t.Errorf("%s: a refused command changed state", name)
		}
	}
	for name, cmd := range map[string][]byte{
		"lock acquire":      lockCmd(lkAcquire, "l", "n1/s"),
		"name register":     nameCmd("x", "n1/s", []byte("meta")),
		"maximal value":     putCmd(strings.Repeat("k", MaxKeyBytes), strings.Repeat("v", MaxValueBytes)),
		"sys/ is not _sys/": putCmd("sys/x", "v"),
		"lock command":      {cmdVersion, tableLocks, lkTick, 1},
	} {
		if r := newTestFSM().Screen(cmd); r != nil {
			t.Errorf("%s: screen refused a legal command: %q", name, r)
		}
	}
}
