// Package cluster builds a conclave node from its configuration and is the
// only package that wires the others together: gossip membership, the
// internode mesh, the Raft core and the replicated state machine (FSM) of the
// domain tables.
//
// It owns the FSM envelope (versioned command type + payload, dispatched to
// the tables; one snapshot for all of them), the mapping from config to each
// package's Config, and the node's start, graceful stop and leave.
package cluster
