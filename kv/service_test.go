package kv

import (
	"context"
	"errors"
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
