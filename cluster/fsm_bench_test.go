package cluster

import (
	"testing"

	"github.com/hashicorp/raft"
)

// The envelope's cost per applied command (no Raft, no disk): a KV put,
// and a lock acquire and release in turn. `make bench BENCH=FSM`.
func BenchmarkFSMApplyPut(b *testing.B) {
	f := newTestFSM()
	cmd := command(tableKV, kvPut, "bench/key", []byte("a value of thirty-two bytes....."))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: cmd})
	}
}

func BenchmarkFSMApplyLock(b *testing.B) {
	f := newTestFSM()
	acquire := command(tableLocks, lkAcquire, "bench/lock", "n1/s1", 0, 0, fuzzT0)
	release := command(tableLocks, lkRelease, "bench/lock", "n1/s1", fuzzT0+1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cmd := acquire
		if i%2 == 1 {
			cmd = release
		}
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: cmd})
	}
}
