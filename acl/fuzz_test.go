package acl

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
	"github.com/conclave-dev/conclave/internal/wire"
)

// fuzzTable is a table with some of everything: a bootstrap, policies and
// tokens (one that expires), so that arbitrary commands meet names that
// exist as well as names that do not.
func fuzzTable(tb testing.TB) *Replicated {
	tb.Helper()
	r := NewReplicated()
	for i, c := range fuzzSeedCommands() {
		_, op, d, err := wire.ParseCommand(c.Marshal())
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := r.Apply(uint64(i+1), op, d); err != nil {
			tb.Fatal(err)
		}
	}
	return r
}

const (
	fuzzAccessor1 = "00000000-0000-4000-8000-000000000001"
	fuzzAccessor2 = "00000000-0000-4000-8000-000000000002"
)

func fuzzSeedCommands() []Command {
	return []Command{
		BootstrapCommand(&Token{AccessorID: fuzzAccessor1, hash: HashSecret("boot")}, 0),
		PolicySet(&Policy{Name: "app", Description: "d", Rules: []Rule{{ResKV, "app/", Write}, {ResKV, "app/x/", Deny}}}, true),
		PolicySet(&Policy{Name: "dash", Rules: []Rule{{ResLock, Everything, Read}}}, true),
		TokenCreate(&Token{AccessorID: fuzzAccessor2, Description: "t", Policies: []string{"app", "dash"}, ExpiresAt: time.Unix(1e9, 0), hash: HashSecret("two")}),
	}
}

// FuzzACLCommand: any op and fields handed to the table's Apply, Screen
// and Query never panic; Screen and Apply agree on whether a command is
// malformed (the leader's screen is Apply's own check); a malformed or
// refused command changes nothing, and an applied one gives the same
// result and state on two replicas; Screen's decoding allocates no more
// than its input bounds whatever its counts claim.
func FuzzACLCommand(f *testing.F) {
	add := func(c Command) {
		m := c.Marshal()
		f.Add(m[2], m[3:])
	}
	for _, c := range fuzzSeedCommands() {
		add(c)
	}
	add(BootstrapCommand(&Token{AccessorID: "00000000-0000-4000-8000-000000000003", hash: HashSecret("three")}, 1))
	add(PolicySet(&Policy{Name: "app", Rules: []Rule{{ResName, "svc/", Read}}}, false))
	add(PolicyDelete("app"))
	add(PolicyDelete(Management))
	add(TokenDelete(fuzzAccessor2))
	for _, q := range [][]byte{policiesQuery(""), policiesQuery("app"), tokensQuery(""), tokensQuery(fuzzAccessor1), wire.Command(TableID, queryState).Data()} {
		f.Add(q[2], q[3:])
	}
	f.Add(byte(opTokenCreate), []byte{0x24, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(byte(opPolicySet), []byte{1, 1, 'p', 0, 0xff, 0xff, 0xff, 0xff, 0x0f})

	f.Fuzz(func(t *testing.T, op byte, fields []byte) {
		a, b := fuzzTable(t), fuzzTable(t)
		before := snapshot(t, a)

		var screenErr error
		fuzzcheck.Bounded(t, "Screen", fuzzcheck.Linear(len(fields), 64, 16<<10), func() {
			screenErr = a.Screen(op, wire.NewDecoder(fields))
		})
		ch := a.Changed()
		res, applyErr := a.Apply(100, op, wire.NewDecoder(fields))
		if (screenErr == nil) != (applyErr == nil) {
			t.Fatalf("op %d: Screen says %v, Apply says %v", op, screenErr, applyErr)
		}
		if applyErr != nil {
			if !errors.Is(applyErr, wire.ErrInvalid) {
				t.Fatalf("op %d: Apply's error %v is not InvalidArgument", op, applyErr)
			}
			if res != nil || closed(ch) || !bytes.Equal(snapshot(t, a), before) {
				t.Fatalf("op %d: a malformed command changed the table", op)
			}
		} else {
			if _, refused := wire.ParseResult(res); refused != nil {
				if closed(ch) || !bytes.Equal(snapshot(t, a), before) {
					t.Fatalf("op %d: a refused command (%v) changed the table", op, refused)
				}
			} else if !closed(ch) {
				t.Fatalf("op %d: an applied command did not close Changed", op)
			}
			resB, errB := b.Apply(100, op, wire.NewDecoder(fields))
			if errB != nil || !bytes.Equal(res, resB) || !bytes.Equal(snapshot(t, a), snapshot(t, b)) {
				t.Fatalf("op %d: two replicas disagree: %x, %x (%v)", op, res, resB, errB)
			}
		}

		qres, qerr := a.Query(op, wire.NewDecoder(fields))
		if qerr != nil && !errors.Is(qerr, wire.ErrInvalid) {
			t.Fatalf("query %d: %v is not InvalidArgument", op, qerr)
		}
		if qerr == nil && len(qres) == 0 {
			t.Fatalf("query %d: an empty answer", op)
		}
	})
}
