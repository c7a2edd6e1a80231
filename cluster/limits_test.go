package cluster

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A command over a limit is refused at apply, on every replica alike, with
// an InvalidArgument answer that names the problem, and changes nothing; the
// leader's screen refuses the same commands before they are proposed.
func TestFSMAndScreenEnforceLimits(t *testing.T) {
	big := strings.Repeat("x", 3<<20)
	cas := func(key string, value []byte) []byte {
		c := &enc{b: []byte{cmdVersion, tableKV, kvCAS}}
		c.string(key)
		c.bytes(value)
		c.uvarint(0)
		return c.b
	}
	del := &enc{b: []byte{cmdVersion, tableKV, kvDelete}}
	del.string("_sys/keep")
	del.uvarint(0)
	tests := map[string]struct {
		cmd  []byte
		want string
	}{
		"3 MB value":            {putCmd("k", big), "command: 3145737 bytes, the limit is 525376"},
		"value over the limit":  {putCmd("k", strings.Repeat("v", MaxValueBytes+1)), "value: 524289 bytes, the limit is 524288"},
		"key over the limit":    {putCmd(strings.Repeat("k", MaxKeyBytes+1), "v"), "key: 1025 bytes, the limit is 1024"},
		"put under _sys/":       {putCmd("_sys/admin", "v"), `key: the prefix "_sys" is reserved`},
		"cas under _sys/":       {cas("_sys/admin", []byte("v")), `key: the prefix "_sys" is reserved`},
		"delete under _sys/":    {del.b, `key: the prefix "_sys" is reserved`},
		"empty key":             {putCmd("", "v"), "key: must not be empty"},
		"key not UTF-8":         {putCmd("\xff", "v"), "key: not valid UTF-8"},
		"unknown table at size": {append([]byte{cmdVersion, 77, 1}, bytes.Repeat([]byte{0}, maxCommandBytes)...), "command:"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFSM(zerolog.Nop())
			applyAt(f, 1, putCmd("keep", "v"))
			screened := f.Screen(tc.cmd)
			if screened == nil {
				t.Fatal("screen let the command through")
			}
			r := applyAt(f, 2, tc.cmd)
			if !bytes.Equal(r, screened) {
				t.Fatalf("apply answered %q, the screen %q: the proposer must see one answer", r, screened)
			}
			d := &dec{b: r}
			st := d.byte()
			err := resultErr(st, d)
			if st != resInvalid || !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("status %d, error %v; want InvalidArgument containing %q", st, err, tc.want)
			}
			if strings.Count(err.Error(), ErrInvalidArgument.Error()) != 1 {
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
	for name, cmd := range map[string][]byte{
		"maximal value":     putCmd(strings.Repeat("k", MaxKeyBytes), strings.Repeat("v", MaxValueBytes)),
		"sys/ is not _sys/": putCmd("sys/x", "v"),
		"lock command":      {cmdVersion, tableLocks, lkTick, 1},
	} {
		if r := (&fsm{}).Screen(cmd); r != nil {
			t.Errorf("%s: screen refused a legal command: %q", name, r)
		}
	}
}
