// Package bench is the benchmark harness behind `make bench`: it measures
// conclave against the performance targets of DESIGN §16 on the machine it
// runs on, and prints the physical floor of that machine in the same run so
// the numbers can be read against what the disk and the loopback allow.
//
// Every cluster benchmark follows DESIGN §16's setup: a 3-node in-process
// cluster (internal/testcluster: real gossip, internode mesh, Raft and bolt
// files) with one gRPC API server per node, driven through the Go SDK
// (api/client) over 127.0.0.1 by a load generator in the same process, on
// the same cores. The benchmarks live in the _test.go files; this package
// holds what they share:
//
//   - Cluster starts the nodes and their API servers and hands out SDK
//     clients and sessions spread over the nodes; it can Kill and Restart a
//     node (server included) for the failover benchmark.
//   - Drive runs a closed loop of N workers (each its own client or
//     session) and lets b.Loop decide how many operations to count, so
//     -benchtime bounds every throughput benchmark and the reported ns/op
//     is the inverse of the throughput.
//   - Prober and MeasureFloor measure the floor: a 4 KiB O_APPEND write plus
//     fdatasync, and a 64-byte loopback TCP ping-pong.
//   - Report hands each metric to b.ReportMetric and prints a summary table
//     with the DESIGN §16 target beside it.
//
// Speed is only ever measured here, never asserted: a missed target shows
// as "MISSED" in the table and does not fail the run. An operation that
// fails does fail it, since a rate that silently dropped errors would be a
// lie. The package's own tests cover the pure parts (percentiles, targets,
// the table, the config) and stay well under a second; `make test` never
// runs the benchmarks.
//
// Goroutines: Cluster owns one Serve goroutine per API server, stopped and
// waited for by Kill and by the benchmark's cleanup; Drive's workers and
// Prober's echo server end before Drive and Close return.
package bench
