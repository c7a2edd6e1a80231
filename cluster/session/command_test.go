package session

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The release commands' bytes are wire format: version 1, table 2, op 3
// (session) or 4 (node), then the PID or node as a string and the time as
// uvarint Unix nanoseconds.
func TestReleaseEncoding(t *testing.T) {
	now := time.Unix(0, 1000)
	tests := map[string]struct {
		cmd  Release
		want []byte
	}{
		"session": {ReleaseSession{PID: "n1/ab", Now: now}, []byte{1, 2, 3, 5, 'n', '1', '/', 'a', 'b', 0xe8, 0x07}},
		"node":    {ReleaseNode{Node: "n2", Now: now}, []byte{1, 2, 4, 2, 'n', '2', 0xe8, 0x07}},
		"no time": {ReleaseNode{Node: "n2"}, []byte{1, 2, 4, 2, 'n', '2', 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := tc.cmd.Marshal()
			if !bytes.Equal(b, tc.want) {
				t.Fatalf("Marshal = %v, want %v", b, tc.want)
			}
			table, op, d, err := wire.ParseCommand(b)
			if err != nil || !IsRelease(table, op) {
				t.Fatalf("header (%d, %d, %v) is not a release", table, op, err)
			}
			got, err := ParseRelease(op, d)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Marshal(), b) {
				t.Fatalf("ParseRelease = %#v, does not round-trip", got)
			}
		})
	}
}

func TestIsRelease(t *testing.T) {
	for _, c := range []struct {
		table, op byte
		want      bool
	}{{2, 3, true}, {2, 4, true}, {2, 1, false}, {2, 5, false}, {1, 3, false}, {3, 4, false}} {
		if got := IsRelease(c.table, c.op); got != c.want {
			t.Errorf("IsRelease(%d, %d) = %v, want %v", c.table, c.op, got, c.want)
		}
	}
}

func TestParseReleaseMalformed(t *testing.T) {
	good := ReleaseSession{PID: "n1/ab", Now: time.Unix(0, 1000)}.Marshal()
	for name, fields := range map[string][]byte{
		"empty":     {},
		"truncated": good[3 : len(good)-1],
		"trailing":  append(append([]byte(nil), good[3:]...), 0),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseRelease(3, wire.NewDecoder(fields)); err == nil {
				t.Fatal("malformed release parsed")
			}
		})
	}
	if _, err := ParseRelease(9, wire.NewDecoder(good[3:])); err == nil {
		t.Fatal("a release with an unknown op parsed")
	}
}

// recorder is a Releaser that records its calls.
type recorder struct {
	calls []string
	err   error
}

func (r *recorder) ReleaseSession(index uint64, now time.Time, pid string) error {
	r.calls = append(r.calls, "session "+pid+" "+now.UTC().Format(time.RFC3339Nano))
	return r.err
}

func (r *recorder) ReleaseNode(index uint64, now time.Time, node string) error {
	r.calls = append(r.calls, "node "+node+" "+now.UTC().Format(time.RFC3339Nano))
	return r.err
}

func TestReleaseFrom(t *testing.T) {
	r := &recorder{}
	now := time.Unix(1, 0)
	if err := (ReleaseSession{PID: "n1/a", Now: now}).ReleaseFrom(5, r); err != nil {
		t.Fatal(err)
	}
	r.err = errors.New("refused")
	if err := (ReleaseNode{Node: "n1", Now: now}).ReleaseFrom(6, r); !errors.Is(err, r.err) {
		t.Fatalf("ReleaseFrom = %v, want the table's error", err)
	}
	want := []string{"session n1/a 1970-01-01T00:00:01Z", "node n1 1970-01-01T00:00:01Z"}
	if !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("calls %v, want %v", r.calls, want)
	}
}
