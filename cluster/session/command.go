package session

import (
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The release commands free everything a session (or every session of a
// node) owned, in every table that holds things owned by sessions, in one
// Raft entry (DESIGN §3). They were lock commands before names existed,
// and their numbers stay: table 2 (the lock table's number), ops 3 and 4;
// fields (pid or node string, now_ns uvarint). Wire format: never change.
const (
	releaseTable     = 2
	opReleaseSession = 3
	opReleaseNode    = 4
)

// Releaser is a table that holds things owned by sessions; a release
// entry calls it from the FSM goroutine with the entry's index and the
// time its proposer wrote.
type Releaser interface {
	ReleaseSession(index uint64, now time.Time, pid string) error
	ReleaseNode(index uint64, now time.Time, node string) error
}

// Release is a decoded release entry.
type Release interface {
	// Marshal encodes the whole command, envelope header included.
	Marshal() []byte
	// ReleaseFrom applies the entry at index to one table.
	ReleaseFrom(index uint64, r Releaser) error
}

// ReleaseSession frees everything the session PID owned.
type ReleaseSession struct {
	PID string
	Now time.Time
}

// ReleaseNode frees everything every session of Node owned.
type ReleaseNode struct {
	Node string
	Now  time.Time
}

// Marshal encodes the command.
func (c ReleaseSession) Marshal() []byte { return marshalRelease(opReleaseSession, c.PID, c.Now) }

// Marshal encodes the command.
func (c ReleaseNode) Marshal() []byte { return marshalRelease(opReleaseNode, c.Node, c.Now) }

// ReleaseFrom calls r.ReleaseSession.
func (c ReleaseSession) ReleaseFrom(index uint64, r Releaser) error {
	return r.ReleaseSession(index, c.Now, c.PID)
}

// ReleaseFrom calls r.ReleaseNode.
func (c ReleaseNode) ReleaseFrom(index uint64, r Releaser) error {
	return r.ReleaseNode(index, c.Now, c.Node)
}

func marshalRelease(op byte, who string, now time.Time) []byte {
	e := wire.Command(releaseTable, op)
	e.String(who)
	e.Time(now)
	return e.Data()
}

// IsRelease reports whether a command's header (table, op) is a release
// entry's: the envelope hands those to ParseRelease, not to a table.
func IsRelease(table, op byte) bool {
	return table == releaseTable && (op == opReleaseSession || op == opReleaseNode)
}

// ParseRelease decodes the fields of a release entry whose header the
// envelope has read (IsRelease). The PID or node is not validated: a
// release of something nobody owns frees nothing.
func ParseRelease(op byte, d *wire.Decoder) (Release, error) {
	who, now := d.String(), d.Time()
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("malformed release command: %w", err)
	}
	switch op {
	case opReleaseSession:
		return ReleaseSession{PID: who, Now: now}, nil
	case opReleaseNode:
		return ReleaseNode{Node: who, Now: now}, nil
	}
	return nil, fmt.Errorf("malformed release command: unknown op %d", op)
}
