package fuzzcheck

import "testing"

var sink []byte

// The counter sees a large allocation at once, and the check can fail.
func TestAllocatedSeesLargeAllocations(t *testing.T) {
	const n = 8 << 20
	got := Allocated(func() { sink = make([]byte, n) })
	if got < n {
		t.Fatalf("Allocated = %d after an allocation of %d", got, n)
	}
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		Bounded(ft, "make", Linear(10, 1, 0), func() { sink = make([]byte, n) })
	}()
	if !ft.failed {
		t.Fatal("Bounded accepted 8 MiB against a bound of 10 bytes")
	}
	ft = &fakeTB{TB: t}
	Bounded(ft, "make", Linear(10, 1, 0), func() { sink = make([]byte, 10) })
	if ft.failed {
		t.Fatal("Bounded refused 10 bytes against a bound of 10 bytes")
	}
}

// fakeTB records a failure instead of failing the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
