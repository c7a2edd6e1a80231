// Package testcluster runs N complete conclave nodes in one process, on
// 127.0.0.1 with real gossip, a real internode mesh, real Raft and bolt
// files in the test's temp dir, for integration tests.
//
// Faults are injected in the transports, never faked in the logic:
// Partition cuts gossip packets and internode links between two nodes (both
// directions), Kill stops a node without leaving (a crash, as peers see it),
// Stop stops it gracefully, and Restart starts it again on the same data dir
// and ports. Every node's log lines go to one buffer that is printed when
// the test fails.
package testcluster
