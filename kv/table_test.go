package kv

import (
	"errors"
	"fmt"
	"testing"
)

func TestPutKeepsCreateIndexAndBumpsVersion(t *testing.T) {
	tb := New()
	e := tb.Put(5, "a", []byte("1"))
	if e.Version != 5 || e.CreateIndex != 5 {
		t.Fatalf("first put: %+v", e)
	}
	e = tb.Put(9, "a", []byte("2"))
	if e.Version != 9 || e.CreateIndex != 5 || string(e.Value) != "2" {
		t.Fatalf("second put: %+v", e)
	}
}

func TestPutCopiesValue(t *testing.T) {
	tb := New()
	v := []byte("abc")
	tb.Put(1, "k", v)
	v[0] = 'X'
	if e, _ := tb.Get("k"); string(e.Value) != "abc" {
		t.Fatalf("table aliases the caller's buffer: %q", e.Value)
	}
}

func TestCompareAndSet(t *testing.T) {
	tests := map[string]struct {
		existing *uint64 // version of an existing key, nil for absent
		version  uint64
		wantErr  error
	}{
		"create when absent":      {version: 0},
		"create when present":     {existing: ptr(3), version: 0, wantErr: ErrVersionMismatch},
		"update at right version": {existing: ptr(3), version: 3},
		"update at wrong version": {existing: ptr(3), version: 2, wantErr: ErrVersionMismatch},
		"update of an absent key": {version: 7, wantErr: ErrVersionMismatch},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tb := New()
			if tc.existing != nil {
				tb.Put(*tc.existing, "k", []byte("old"))
			}
			e, err := tb.CompareAndSet(10, "k", []byte("new"), tc.version)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			got, _ := tb.Get("k")
			if tc.wantErr == nil && (e.Version != 10 || string(got.Value) != "new") {
				t.Fatalf("cas did not write: %+v", got)
			}
			if tc.wantErr != nil && tc.existing != nil && string(got.Value) != "old" {
				t.Fatalf("failed cas changed the value: %+v", got)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	tb := New()
	if _, err := tb.Delete("k", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete absent: %v", err)
	}
	tb.Put(4, "k", nil)
	if _, err := tb.Delete("k", 3); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("delete at wrong version: %v", err)
	}
	if _, err := tb.Delete("k", 4); err != nil {
		t.Fatalf("delete at right version: %v", err)
	}
	if _, ok := tb.Get("k"); ok {
		t.Fatal("key still there")
	}
}

func TestListByPrefixInOrderWithLimit(t *testing.T) {
	tb := New()
	for i, k := range []string{"b/2", "a", "b/1", "b/3", "c", "b"} {
		tb.Put(uint64(i+1), k, nil)
	}
	keys := func(es []*Entry) string {
		return fmt.Sprint(func() []string {
			var s []string
			for _, e := range es {
				s = append(s, e.Key)
			}
			return s
		}())
	}
	if got := keys(tb.List("b/", 0)); got != "[b/1 b/2 b/3]" {
		t.Fatalf("list b/: %s", got)
	}
	if got := keys(tb.List("b", 2)); got != "[b b/1]" {
		t.Fatalf("list b limit 2: %s", got)
	}
	if got := len(tb.List("", 0)); got != 6 {
		t.Fatalf("list all: %d", got)
	}
}

func TestCloneIsIsolated(t *testing.T) {
	tb := New()
	tb.Put(1, "a", []byte("1"))
	snap := tb.Clone()
	tb.Put(2, "a", []byte("2"))
	tb.Put(3, "b", nil)
	if e, _ := snap.Get("a"); string(e.Value) != "1" || snap.Len() != 1 {
		t.Fatalf("clone saw later writes: %+v len %d", e, snap.Len())
	}
}

func ptr(v uint64) *uint64 { return &v }
