package gossip

import (
	"net"
	"sync/atomic"
)

// Stats are cumulative counters since New, for metrics and tests.
type Stats struct {
	// MalformedMeta: peer meta that failed to decode (on join or update).
	MalformedMeta uint64
	// RejectedForeign: alive messages and merges refused by the cluster-ID guard.
	RejectedForeign uint64
	// DroppedEvents: events not delivered because a subscriber's buffer was full.
	DroppedEvents uint64
	// DuplicateName: reports of two nodes claiming one name.
	DuplicateName uint64
	// Joins: successful initial joins by Run, plus successful Join calls.
	Joins uint64
	// Rejoins: successful rejoins by Run after finding itself alone.
	Rejoins uint64
	// JoinFailures: join attempts that reached no seed.
	JoinFailures uint64
	// FilteredPackets: packets dropped and dials refused by the packet filter.
	FilteredPackets uint64
	// RejectedMessages: inbound packets and streams memberlist refused
	// (malformed, unencrypted or sealed with an unknown key while
	// encryption is on, over its limits), counted from its error log.
	RejectedMessages uint64
	// BytesIn and BytesOut: gossip traffic, UDP packets and TCP streams
	// (push/pull, joins) alike.
	BytesIn, BytesOut uint64
	// RejectedInventory: alive messages refused because the member's
	// address is not in the inventory (Config.AllowOnlyInventory).
	RejectedInventory uint64
	// InventoryErrors: inventory lookups and file reads that failed.
	InventoryErrors uint64
}

// counters is the live, lock-free form of Stats; delegates bump it from
// memberlist goroutines.
type counters struct {
	malformedMeta     atomic.Uint64
	rejectedForeign   atomic.Uint64
	droppedEvents     atomic.Uint64
	duplicateName     atomic.Uint64
	joins             atomic.Uint64
	rejoins           atomic.Uint64
	joinFailures      atomic.Uint64
	filteredPackets   atomic.Uint64
	rejectedMessages  atomic.Uint64
	bytesIn           atomic.Uint64
	bytesOut          atomic.Uint64
	rejectedInventory atomic.Uint64
	inventoryErrors   atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		MalformedMeta:     c.malformedMeta.Load(),
		RejectedForeign:   c.rejectedForeign.Load(),
		DroppedEvents:     c.droppedEvents.Load(),
		DuplicateName:     c.duplicateName.Load(),
		Joins:             c.joins.Load(),
		Rejoins:           c.rejoins.Load(),
		JoinFailures:      c.joinFailures.Load(),
		FilteredPackets:   c.filteredPackets.Load(),
		RejectedMessages:  c.rejectedMessages.Load(),
		BytesIn:           c.bytesIn.Load(),
		BytesOut:          c.bytesOut.Load(),
		RejectedInventory: c.rejectedInventory.Load(),
		InventoryErrors:   c.inventoryErrors.Load(),
	}
}

// countingConn counts a gossip stream's bytes into the transport's counters.
type countingConn struct {
	net.Conn
	c *counters
}

func (cc countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.bytesIn.Add(uint64(n))
	return n, err
}

func (cc countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.c.bytesOut.Add(uint64(n))
	return n, err
}
