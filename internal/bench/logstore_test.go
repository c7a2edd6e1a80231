package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/config"
)

// BenchmarkKVPutLogStore puts the two log stores (cluster.raft.log_store)
// side by side on the same workload as BenchmarkKVPut16: a 128-byte put to
// a new key, by 1 client on the leader (the bare cost of one commit: the
// leader's sync, then a follower's) and by 16 clients spread over the 3
// nodes (Raft batches concurrent entries into one sync). Each sub-benchmark
// starts its own cluster and prints the floor measured just before it.
//
// On a shared machine one run proves little: run each pairing several
// times, alternating the stores, and read every run. -count repeats each
// sub-benchmark back to back (bolt, bolt, bolt, wal, ...), so alternate
// with a loop instead:
//
//	go test -c -o /tmp/bench.test ./internal/bench
//	for i in 1 2 3; do for c in 1 16; do for s in bolt wal; do
//	  /tmp/bench.test -test.run '^$' -test.benchtime 3s -test.bench "KVPutLogStore/clients=$c\$/store=$s\$"
//	done; done; done
func BenchmarkKVPutLogStore(b *testing.B) {
	for _, clients := range []int{1, 16} {
		for _, store := range []string{config.LogStoreBolt, config.LogStoreWAL} {
			b.Run(fmt.Sprintf("clients=%d/store=%s", clients, store), func(b *testing.B) {
				benchKVPutStore(b, clients, store)
			})
		}
	}
}

func benchKVPutStore(b *testing.B, clients int, store string) {
	who := "1 client on the leader"
	if clients > 1 {
		who = fmt.Sprintf("%d clients spread over 3 nodes", clients)
	}
	r := NewReport(b, fmt.Sprintf("KVPut, log_store %s: %s, put of 128 B to a new key", store, who))
	cfg := DefaultConfig()
	cfg.LogStore = store
	c := startClusterWith(b, r, cfg)
	nodes := c.Spread(clients)
	if clients == 1 {
		nodes[0] = c.Leader()
	}
	cls := make([]*client.Client, clients)
	for i, n := range nodes {
		cls[i] = c.Client(n)
	}
	value := make([]byte, 128)
	seq := make([]int, clients) // per worker: only worker w touches seq[w]
	run := Drive(b, clients, cfg.OpTimeout, func(ctx context.Context, w int) error {
		seq[w]++
		_, err := cls[w].KV().Put(ctx, fmt.Sprintf("bench/kv/%02d/%09d", w, seq[w]), value)
		return err
	})
	reportLatency(r, run, "ops/s", Target{}, Target{})
	r.Log()
}
