package locks

import (
	"strings"
	"testing"
	"time"
)

func TestValidateName(t *testing.T) {
	tests := map[string]struct {
		name    string
		wantErr string // "" = valid
	}{
		"simple":        {name: "jobs/nightly"},
		"unicode":       {name: "tâche/ночь"},
		"max length":    {name: strings.Repeat("a", MaxNameLen)},
		"space inside":  {name: "a b"},
		"sys not first": {name: "x_sys"},
		"empty":         {name: "", wantErr: "name: must not be empty"},
		"too long":      {name: strings.Repeat("a", MaxNameLen+1), wantErr: "name: is 257 bytes"},
		"bad utf8":      {name: "a\xffb", wantErr: "name: is not valid UTF-8"},
		"control":       {name: "a\nb", wantErr: "name: \"a\\nb\": unprintable"},
		"reserved":      {name: "_sys/leader", wantErr: "reserved"},
		"reserved bare": {name: "_sys", wantErr: "reserved"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := ValidateName(tc.name)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v", tc.name, err)
				}
				return
			}
			mustErr(t, err, ErrInvalid, tc.wantErr)
		})
	}
}

func TestNodeOf(t *testing.T) {
	tests := map[string]struct{ pid, want string }{
		"pid":           {"n1/abc", "n1"},
		"slash in id":   {"n1/a/b", "n1"},
		"no slash":      {"n1", ""},
		"empty":         {"", ""},
		"empty session": {"n1/", "n1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := NodeOf(tc.pid); got != tc.want {
				t.Fatalf("NodeOf(%q) = %q, want %q", tc.pid, got, tc.want)
			}
		})
	}
}

// TestValidationLeavesTableUnchanged: every kind of bad argument to every
// mutating method fails with ErrInvalid naming the field, and the table's
// encoding does not change.
func TestValidationLeavesTableUnchanged(t *testing.T) {
	ok := AcquireRequest{Name: "jobs/a", PID: "n1/s1"}
	tests := map[string]struct {
		call  func(tb *Table) error
		field string
	}{
		"acquire bad name": {func(tb *Table) error {
			r := ok
			r.Name = "_sys/x"
			_, _, err := tb.Acquire(10, t0, r)
			return err
		}, "name"},
		"acquire empty pid": {func(tb *Table) error {
			r := ok
			r.PID = ""
			_, _, err := tb.Acquire(10, t0, r)
			return err
		}, "pid"},
		"acquire pid without node": {func(tb *Table) error {
			r := ok
			r.PID = "s1"
			_, _, err := tb.Acquire(10, t0, r)
			return err
		}, "pid"},
		"acquire pid with space": {func(tb *Table) error {
			r := ok
			r.PID = "n1/s 1"
			_, _, err := tb.Acquire(10, t0, r)
			return err
		}, "pid"},
		"acquire negative wait": {func(tb *Table) error {
			r := ok
			r.Wait = -time.Second
			_, _, err := tb.Acquire(10, t0, r)
			return err
		}, "wait"},
		"acquire negative lock delay": {func(tb *Table) error {
			r := ok
			r.LockDelay = -1
			_, _, err := tb.Acquire(10, t0, r)
			return err
		}, "lock_delay"},
		"acquire lock delay over limit": {func(tb *Table) error {
			r := ok
			r.LockDelay = MaxLockDelay + 1
			_, _, err := tb.Acquire(10, t0, r)
			return err
		}, "lock_delay"},
		"acquire stale index": {func(tb *Table) error {
			_, _, err := tb.Acquire(2, t0, AcquireRequest{Name: "jobs/new", PID: "n1/s1"})
			return err
		}, "index"},
		"acquire zero index": {func(tb *Table) error {
			_, _, err := New().Acquire(0, t0, ok)
			return err
		}, "index"},
		"release bad name": {func(tb *Table) error {
			_, err := tb.Release(10, t0, "", "n1/s1")
			return err
		}, "name"},
		"release empty pid": {func(tb *Table) error {
			_, err := tb.Release(10, t0, "jobs/a", "")
			return err
		}, "pid"},
		"release stale index": {func(tb *Table) error {
			_, err := tb.Release(3, t0, "jobs/a", "n1/s1")
			return err
		}, "index"},
		"release session empty pid": {func(tb *Table) error {
			_, err := tb.ReleaseSession(10, t0, "")
			return err
		}, "pid"},
		"release session stale index": {func(tb *Table) error {
			_, err := tb.ReleaseSession(1, t0, "n1/s1")
			return err
		}, "index"},
		"release node empty": {func(tb *Table) error {
			_, err := tb.ReleaseNode(10, t0, "")
			return err
		}, "node"},
		"release node with slash": {func(tb *Table) error {
			_, err := tb.ReleaseNode(10, t0, "n1/s1")
			return err
		}, "node"},
		"tick stale index": {func(tb *Table) error {
			_, err := tb.Tick(3, at(time.Hour))
			return err
		}, "index"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tb := New()
			acquire(t, tb, 1, t0, AcquireRequest{Name: "jobs/a", PID: "n1/s1", LockDelay: time.Second})
			acquire(t, tb, 2, t0, AcquireRequest{Name: "jobs/a", PID: "n2/s1", Wait: time.Minute})
			acquire(t, tb, 3, t0, AcquireRequest{Name: "jobs/b", PID: "n2/s1"})
			before := encode(t, tb)
			err := tc.call(tb)
			mustErr(t, err, ErrInvalid, tc.field+":")
			mustUnchanged(t, tb, before)
			checkInvariants(t, tb)
		})
	}
}
