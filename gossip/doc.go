// Package gossip wraps hashicorp/memberlist (SWIM gossip) for conclave.
//
// It owns:
//   - node metadata (Meta): a versioned, tag-length-value encoding that fits in
//     memberlist's 512-byte node meta and that old decoders can read after new
//     fields are added;
//   - the membership view (Members, Member, NumAlive): every node memberlist has
//     told us about, with dead and left nodes kept for Config.ForgetDeadAfter so
//     status output can show them;
//   - membership events (Subscribe): NodeJoined, NodeUpdated, NodeFailed and
//     NodeLeft, delivered with non-blocking sends (dropped and counted when a
//     subscriber is slow, DESIGN rule 13: a periodic full reconcile by the
//     subscriber repairs anything dropped);
//   - joining (Run): the initial join with exponential backoff and a periodic
//     rejoin while the node finds itself alone (after a partition or a restart of
//     every seed);
//   - gossip encryption (Config.Keys) and its keyring at runtime (InstallKey,
//     UseKey, RemoveKey, ListKeys), persisted in Config.KeyringFile so a
//     restart keeps the active key; encryption itself is decided at start
//     (memberlist cannot turn it on at runtime);
//   - counting the inbound messages memberlist refuses (Stats.RejectedMessages);
//   - join discovery from an inventory (discover.go, inventory.go): a DNS
//     name (SRV and A/AAAA records) and a polled file, resolved by Run
//     before its first join and at Config.DiscoverInterval, joined in
//     addition to the seeds; with Config.AllowOnlyInventory, the
//     inventory guard refuses members at addresses outside it;
//   - the cluster-ID guard (two clusters that
//     share a seed address stay two clusters, loudly), duplicate-name reports,
//     and fault injection for tests (WithPacketFilter).
//
// It does not own: Raft, bootstrap decisions or the cluster ID's minting (the
// cluster and raftcore packages read Meta and call SetClusterID), nor any
// persistence but the keyring file. It imports nothing of ours.
//
// Concurrency: every exported method of Membership is safe for concurrent use.
// memberlist calls the delegates in this package from its own goroutines, some
// of them while holding memberlist's internal node lock; those callbacks
// therefore never call back into memberlist and never block (they take only
// this package's short-lived mutexes and send events without blocking). The
// goroutines this package starts are the two forwarding loops of the
// transport wrapper, which Shutdown stops and waits for, and Run's helpers
// (the re-announcer and, with an inventory, the discovery loop and a
// watcher that cancels its lookups at Shutdown), which Run waits for. Run executes on the caller's goroutine; Shutdown
// makes it return and waits for it.
//
// memberlist v0.6.0 never fills Node.State in the EventDelegate callbacks
// (hashicorp/memberlist#293), so a graceful Leave first gossips a Meta with
// Leaving set; a peer that saw that flag reports the node's departure as
// NodeLeft, otherwise as NodeFailed. Memberlist does not report suspicion to
// delegates either, so Member.State is only ever alive, dead or left.
package gossip
