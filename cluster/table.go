package cluster

import (
	"bufio"
	"io"

	"github.com/conclave-dev/conclave/cluster/session"
	"github.com/conclave-dev/conclave/internal/wire"
)

// Table is one domain's replicated state behind the FSM envelope (DESIGN
// §2): the envelope reads a command's header (wire.ParseCommand) and hands
// the op and its fields to the table registered under the command's table
// number. A domain package implements it; cluster registers it in one line
// (newFSM). Each table guards its own state: Apply, Snapshot and Restore
// are called from Raft's FSM goroutine only, Query and Screen concurrently
// with them from request goroutines.
type Table interface {
	// Apply applies op with its fields as the entry at index. A command the
	// table refuses by its state (a lock held, a version mismatch) is an OK
	// call whose result is the refusal (wire.Refusal); a command that breaks
	// the table's rules (unknown op, malformed fields, a limit) returns an
	// error, which the envelope counts, logs and answers as wire.Invalid.
	// Apply must be deterministic: no clock, no randomness, no map order.
	Apply(index uint64, op byte, fields *wire.Decoder) ([]byte, error)
	// Screen checks a command's fields against the same rules as Apply
	// before the leader proposes it; nil if Apply would not refuse it as
	// malformed or over a limit.
	Screen(op byte, fields *wire.Decoder) error
	// Query answers a read of the local replica.
	Query(op byte, fields *wire.Decoder) ([]byte, error)
	// Snapshot takes an O(1) (copy-on-write) view of the table and returns
	// the function that writes its section, or nil when the table is empty
	// and its section may be left out. The function runs later, while
	// Apply goes on.
	Snapshot() (func(w io.Writer) error, error)
	// Restore reads the table's section (r is nil when the snapshot has
	// none: the table is empty) into new state and returns the function
	// that installs it. Nothing changes until every section has been read
	// and every commit is called.
	Restore(r *bufio.Reader) (commit func(), err error)
}

// SessionReleaser is a table that holds things owned by sessions: the
// envelope's release-session and release-node commands release them in
// every such table, in registration order, in one Raft entry (DESIGN §3).
// The commands and the interface are package session's.
type SessionReleaser = session.Releaser

// Flusher is a table that collects events while a batch of entries is
// applied; the envelope calls Flush once the batch is done, from the FSM
// goroutine. Flush must not block (it queues for sessions or watchers).
type Flusher interface {
	Flush()
}
