package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/conclave-dev/conclave/api/client"
)

// BenchmarkKVPut16: 16 clients, each with its own gRPC connection, spread
// over the 3 nodes (so about two thirds of the puts are forwarded to the
// leader), each putting a 128-byte value under a key never written before.
func BenchmarkKVPut16(b *testing.B) {
	const clients = 16
	r := NewReport(b, "KVPut16: 16 clients (own connections) spread over 3 nodes, put of 128 B to a new key")
	c := startCluster(b, r)
	cls := make([]*client.Client, clients)
	for i, n := range c.Spread(clients) {
		cls[i] = c.Client(n)
	}
	value := make([]byte, 128)
	seq := make([]int, clients) // per worker: only worker w touches seq[w]
	run := Drive(b, clients, DefaultConfig().OpTimeout, func(ctx context.Context, w int) error {
		seq[w]++
		_, err := cls[w].KV().Put(ctx, fmt.Sprintf("bench/kv/%02d/%09d", w, seq[w]), value)
		return err
	})
	reportLatency(r, run, "ops/s", AtLeast(3000), Target{})
	r.Log()
}
