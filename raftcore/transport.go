package raftcore

import "github.com/hashicorp/raft"

// serialTransport is raft's NetworkTransport with pipelined replication
// turned off: raft then replicates to each follower one AppendEntries at a
// time, each carrying every entry that queued up meanwhile (up to
// MaxAppendEntries), so batching still amortises the round trip.
//
// Why: hashicorp/raft v1.7.3's pipeline can deadlock. When a follower's
// answer fails or says Success=false, pipelineDecode returns and nothing
// reads the pipeline's done channel any more; if the send loop then issues
// one more AppendEntries, it parks on the in-progress channel while the
// response decoder parks on the done channel, and pipeline.Close, which
// would free both, runs only after the send loop. The follower then gets
// heartbeats but never another entry, and Raft's Shutdown waits forever.
// Seen here as a test whose cleanup hung for 14 minutes with exactly those
// two goroutines parked; Grafana Pyroscope disabled pipelining for the same
// analysis. Embedding keeps every optional ability (pre-vote, close).
type serialTransport struct {
	*raft.NetworkTransport
}

// AppendEntriesPipeline reports that pipelining is unsupported, which makes
// raft fall back to synchronous replication.
func (serialTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}
