package kv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/conclave-dev/conclave/internal/wire"
)

// fakeProposer applies every command to a real replicated table at the
// next index, as a one-node Raft would; no network, no Raft.
type fakeProposer struct {
	t     *Replicated
	index uint64
	err   error
}

func (p *fakeProposer) Apply(_ context.Context, cmd []byte) ([]byte, error) {
	if p.err != nil {
		return nil, p.err
	}
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil || table != TableID {
		return nil, errors.New("not a kv command")
	}
	if err := p.t.Screen(op, wire.NewDecoder(cmd[3:])); err != nil {
		return wire.Refusal(err), nil
	}
	p.index++
	res, err := p.t.Apply(p.index, op, d)
	if err != nil {
		return wire.Refusal(err), nil
	}
	return res, nil
}

func (p *fakeProposer) Query(_ context.Context, _ wire.ReadMode, q []byte) ([]byte, error) {
	_, op, d, err := wire.ParseCommand(q)
	if err != nil {
		return nil, err
	}
	return p.t.Query(op, d)
}

func TestServiceWritesAndReads(t *testing.T) {
	ctx := context.Background()
	p := &fakeProposer{t: NewReplicated()}
	s := NewService(p)
	e, err := s.Put(ctx, "a/1", []byte("x"))
	if err != nil || e.Version != 1 || e.CreateIndex != 1 {
		t.Fatalf("put = %+v, %v", e, err)
	}
	if _, err := s.CompareAndSet(ctx, "a/1", []byte("y"), 7); !errors.Is(err, ErrVersionMismatch) ||
		!strings.Contains(err.Error(), `key "a/1" is at version 1, want 7`) {
		t.Fatalf("cas at a wrong version: %v", err)
	}
	if e, err = s.CompareAndSet(ctx, "a/1", []byte("y"), 1); err != nil || e.Version != 3 || e.CreateIndex != 1 { // the refused CAS took entry 2
		t.Fatalf("cas = %+v, %v", e, err)
	}
	if _, err := s.Put(ctx, "a/2", nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "a/1", wire.ReadDefault)
	if err != nil || string(got.Value) != "y" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	es, err := s.List(ctx, "a/", 1, wire.ReadStale)
	if err != nil || len(es) != 1 || es[0].Key != "a/1" {
		t.Fatalf("list with limit 1 = %+v, %v", es, err)
	}
	if err := s.Delete(ctx, "a/1", 9); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("delete at a wrong version: %v", err)
	}
	if err := s.Delete(ctx, "a/1", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a/1", wire.ReadDefault); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get of a deleted key: %v", err)
	}
	if err := s.Delete(ctx, "a/1", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of an absent key: %v", err)
	}
}

// Bad input is refused by the service before anything is proposed, with
// an error naming the field.
func TestServiceRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	p := &fakeProposer{t: NewReplicated()}
	s := NewService(p)
	for name, err := range map[string]error{
		"key":    func() error { _, err := s.Put(ctx, "", nil); return err }(),
		"_sys":   func() error { _, err := s.Put(ctx, "_sys/x", nil); return err }(),
		"value":  func() error { _, err := s.Put(ctx, "k", make([]byte, MaxValueBytes+1)); return err }(),
		"prefix": func() error { _, err := s.List(ctx, "\xff", 0, wire.ReadDefault); return err }(),
		"limit":  func() error { _, err := s.List(ctx, "", -1, wire.ReadDefault); return err }(),
	} {
		if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want InvalidArgument naming it", name, err)
		}
	}
	if p.index != 0 {
		t.Fatalf("refused input was proposed: %d entries", p.index)
	}
	p.err = errors.New("no leader")
	if _, err := s.Put(ctx, "k", nil); err == nil || !strings.Contains(err.Error(), `put "k": no leader`) {
		t.Fatalf("proposer failure: %v", err)
	}
}

func TestServiceDeletePrefix(t *testing.T) {
	ctx := context.Background()
	p := &fakeProposer{t: NewReplicated()}
	s := NewService(p)
	for _, k := range []string{"app/1", "app/2", "apq", "b"} {
		if _, err := s.Put(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeletePrefix(ctx, "app/")
	if err != nil || n != 2 {
		t.Fatalf("DeletePrefix(app/) = %d, %v; want 2", n, err)
	}
	if p.index != 5 {
		t.Fatalf("the prefix delete took %d entries, want 1", p.index-4)
	}
	es, err := s.List(ctx, "", 0, wire.ReadDefault)
	if err != nil || len(es) != 2 || es[0].Key != "apq" || es[1].Key != "b" {
		t.Fatalf("left after the delete: %+v, %v", es, err)
	}
	if n, err := s.DeletePrefix(ctx, "nothing/"); err != nil || n != 0 {
		t.Fatalf("DeletePrefix(nothing/) = %d, %v; want 0", n, err)
	}
	for _, prefix := range []string{"", "_sys", "_sys/x", "\xff"} {
		if _, err := s.DeletePrefix(ctx, prefix); !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("DeletePrefix(%q): %v, want InvalidArgument naming prefix", prefix, err)
		}
	}
	if p.index != 6 {
		t.Fatalf("refused prefix deletes were proposed: %d entries", p.index)
	}
}

func TestServiceTxn(t *testing.T) {
	ctx := context.Background()
	p := &fakeProposer{t: NewReplicated()}
	s := NewService(p)
	a, _ := s.Put(ctx, "a", []byte("1"))
	if _, err := s.Put(ctx, "b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	// A failed compare: nothing changes, and the result says which.
	r, err := s.Txn(ctx, []Compare{{Key: "a", Version: a.Version}, {Key: "b", Version: 0}},
		[]Op{PutOp("a", []byte("x")), DeleteOp("b")})
	if err != nil || r.Succeeded || r.Failed != 1 || r.Actual != 2 {
		t.Fatalf("txn with a failing compare = %+v, %v; want compare 1 failed at version 2", r, err)
	}
	if e, _ := s.Get(ctx, "a", wire.ReadDefault); string(e.Value) != "1" {
		t.Fatalf("a failed txn wrote a: %+v", e)
	}
	if _, err := s.Get(ctx, "b", wire.ReadDefault); err != nil {
		t.Fatalf("a failed txn deleted b: %v", err)
	}
	// Every compare holds: every op applies, in one entry.
	r, err = s.Txn(ctx, []Compare{{Key: "a", Version: a.Version}, {Key: "c", Version: 0}},
		[]Op{PutOp("a", []byte("x")), PutOp("c", []byte("y")), DeleteOp("b")})
	if err != nil || !r.Succeeded || r.Index != 4 || len(r.Results) != 3 ||
		r.Results[0].Entry.Version != 4 || r.Results[1].Entry.CreateIndex != 4 || !r.Results[2].Deleted {
		t.Fatalf("txn = %+v, %v", r, err)
	}
	es, _ := s.List(ctx, "", 0, wire.ReadDefault)
	if len(es) != 2 || string(es[0].Value) != "x" || es[1].Key != "c" {
		t.Fatalf("after the txn: %+v", es)
	}
	// Bad transactions are refused before anything is proposed.
	before := p.index
	many := make([]Op, MaxTxnItems+1)
	for i := range many {
		many[i] = PutOp(fmt.Sprintf("k%d", i), nil)
	}
	for field, err := range map[string]error{
		"at least one":    func() error { _, err := s.Txn(ctx, nil, nil); return err }(),
		"the limit is 64": func() error { _, err := s.Txn(ctx, nil, many); return err }(),
		"ops[0].key":      func() error { _, err := s.Txn(ctx, nil, []Op{PutOp("_sys/a", nil)}); return err }(),
		"ops[1].key":      func() error { _, err := s.Txn(ctx, nil, []Op{PutOp("a", nil), PutOp("a", nil)}); return err }(),
		"ops[0].value":    func() error { _, err := s.Txn(ctx, nil, []Op{PutOp("a", make([]byte, MaxValueBytes+1))}); return err }(),
		"compares[0].key": func() error { _, err := s.Txn(ctx, []Compare{{Key: ""}}, nil); return err }(),
		"bytes encoded": func() error {
			big := make([]byte, MaxValueBytes)
			_, err := s.Txn(ctx, nil, []Op{PutOp("a", big), PutOp("b", big)})
			return err
		}(),
	} {
		if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want InvalidArgument naming it", field, err)
		}
	}
	if p.index != before {
		t.Fatalf("refused txns were proposed: %d entries", p.index-before)
	}
}
