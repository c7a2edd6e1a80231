package raftcore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/conclave-dev/conclave/internal/wire"
)

// AdmissionTableID is the admitted set's number in the FSM's command
// envelope: raftcore's own replicated table, which cluster registers like
// a domain's (raft.admission: manual). No KV command can write it.
const AdmissionTableID = 4

// opAdmit is the one admission command: node.
const opAdmit = 1

// Admissions is the replicated set of servers an operator admitted, with
// the index of the entry that admitted each. Apply, Snapshot and Restore
// come from Raft's FSM goroutine, the reads from anywhere.
type Admissions struct {
	mu       sync.RWMutex
	admitted map[string]uint64
}

// NewAdmissions returns an empty admitted set.
func NewAdmissions() *Admissions { return &Admissions{admitted: map[string]uint64{}} }

// AdmitCommand is the command that admits node.
func AdmitCommand(node string) []byte {
	c := wire.Command(AdmissionTableID, opAdmit)
	c.String(node)
	return c.Data()
}

// unmarshalAdmit decodes an admission command and checks the node name:
// the one decoding the leader's screen and the apply share.
func unmarshalAdmit(op byte, d *wire.Decoder) (string, error) {
	if op != opAdmit {
		return "", wire.Invalidf("op", "unknown admission op %d", op)
	}
	node := d.String()
	if err := d.Done(); err != nil {
		return "", fmt.Errorf("%w: malformed admit: %w", wire.ErrInvalid, err)
	}
	return node, wire.ValidateNode("node", node)
}

// Apply admits a node (twice is the same as once).
func (a *Admissions) Apply(index uint64, op byte, d *wire.Decoder) ([]byte, error) {
	node, err := unmarshalAdmit(op, d)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if _, ok := a.admitted[node]; !ok {
		a.admitted[node] = index
	}
	a.mu.Unlock()
	return wire.Result().Data(), nil
}

// Screen checks an admission command as Apply will.
func (a *Admissions) Screen(op byte, d *wire.Decoder) error {
	_, err := unmarshalAdmit(op, d)
	return err
}

// Query: the admitted set has no query of its own (Nodes reads it).
func (a *Admissions) Query(op byte, _ *wire.Decoder) ([]byte, error) {
	return nil, wire.Invalidf("query", "the admission table has no query %d", op)
}

// Snapshot leaves the section out while nobody was admitted, so that a
// cluster that never admitted anyone writes snapshots older versions read.
func (a *Admissions) Snapshot() (func(io.Writer) error, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(a.admitted) == 0 {
		return nil, nil
	}
	b := encodeAdmitted(a.admitted)
	return func(w io.Writer) error { return wire.WriteFrame(w, b) }, nil
}

// Restore reads the section into a new set.
func (a *Admissions) Restore(br *bufio.Reader) (func(), error) {
	adm := map[string]uint64{}
	if br != nil {
		rec, err := wire.ReadFrame(br)
		if err != nil {
			return nil, fmt.Errorf("admitted servers: %w", err)
		}
		if adm, err = decodeAdmitted(rec); err != nil {
			return nil, fmt.Errorf("admitted servers: %w", err)
		}
	}
	return func() {
		a.mu.Lock()
		a.admitted = adm
		a.mu.Unlock()
	}, nil
}

// Admitted reports whether node is in the local replica's admitted set.
func (a *Admissions) Admitted(node string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	_, ok := a.admitted[node]
	return ok
}

// Nodes lists the admitted set by name.
func (a *Admissions) Nodes() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.admitted))
	for n := range a.admitted {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// encodeAdmitted is the snapshot section: count, then (node, index) pairs
// by name.
func encodeAdmitted(m map[string]uint64) []byte {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	e := wire.NewEncoder()
	e.Uvarint(uint64(len(names)))
	for _, n := range names {
		e.String(n)
		e.Uvarint(m[n])
	}
	return e.Data()
}

// minAdmittedBytes is the smallest encoded admitted server (a one-byte
// name with its length, a one-byte index): it bounds the count a snapshot
// section can claim by the section's bytes. The map grows with the servers
// that decode, from at most admittedHint: a section of garbage costs no
// more than the servers it really holds.
const (
	minAdmittedBytes = 3
	admittedHint     = 64
)

func decodeAdmitted(b []byte) (map[string]uint64, error) {
	d := wire.NewDecoder(b)
	n := d.Count(minAdmittedBytes)
	if d.Err() != nil {
		return nil, d.Err()
	}
	out := make(map[string]uint64, min(n, admittedHint))
	for i := 0; i < n; i++ {
		node, index := d.String(), d.Uvarint()
		if d.Err() != nil {
			return nil, d.Err()
		}
		if err := wire.ValidateNode("node", node); err != nil {
			return nil, err
		}
		out[node] = index
	}
	return out, d.Done()
}

// Admit records node as admitted to the core (raft.admission: manual): the
// leader adds it, as a standby first, once it has been alive for the
// stabilisation window. Admitting a node twice, or one already in the
// core, is not an error.
func (c *Core) Admit(ctx context.Context, node string) error {
	if err := wire.ValidateNode("node", node); err != nil {
		return err
	}
	resp, err := c.Apply(ctx, AdmitCommand(node))
	if err != nil {
		return fmt.Errorf("admit %q: %w", node, err)
	}
	if _, refused := wire.ParseResult(resp); refused != nil {
		return fmt.Errorf("admit %q: %w", node, refused)
	}
	c.log.Info().Str("peer", node).Msg("node admitted")
	c.Notify()
	return nil
}
