package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/conclave-dev/conclave/internal/wire"

	"github.com/conclave-dev/conclave/config"
)

// Admission commands (table tableAdmission): the replicated set of servers
// an operator admitted, for raft.admission: manual. They are conclave's own
// commands, a table apart: no KV command can write them.
const (
	tableAdmission = 4

	adAdmit = 1 // node
)

// decodeAdmission decodes an admission command and checks the node name by
// the configuration's rules. The leader's screen and the FSM's apply both
// use it.
func decodeAdmission(op byte, d *wire.Decoder) (string, error) {
	if op != adAdmit {
		return "", fmt.Errorf("%w: unknown admission op %d", ErrInvalidArgument, op)
	}
	node := d.String()
	if err := d.Done(); err != nil {
		return "", fmt.Errorf("%w: malformed admit: %w", ErrInvalidArgument, err)
	}
	if err := config.ValidNodeName("node", node); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return node, nil
}

// admissionTable is the admitted set as the FSM envelope drives it.
type admissionTable struct {
	mu       sync.RWMutex
	admitted map[string]uint64 // node -> index of the entry that admitted it
}

func newAdmissionTable() *admissionTable { return &admissionTable{admitted: map[string]uint64{}} }

func (a *admissionTable) Apply(index uint64, op byte, d *wire.Decoder) ([]byte, error) {
	node, err := decodeAdmission(op, d)
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

func (a *admissionTable) Screen(op byte, d *wire.Decoder) error {
	_, err := decodeAdmission(op, d)
	return err
}

func (a *admissionTable) Query(op byte, _ *wire.Decoder) ([]byte, error) {
	return nil, fmt.Errorf("%w: query not understood: the admission table has no query %d", ErrInvalidArgument, op)
}

// Snapshot leaves the section out while nobody was admitted, so that a
// cluster that never admitted anyone writes snapshots older versions read.
func (a *admissionTable) Snapshot() (func(io.Writer) error, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(a.admitted) == 0 {
		return nil, nil
	}
	b := encodeAdmitted(a.admitted)
	return func(w io.Writer) error { return wire.WriteFrame(w, b) }, nil
}

func (a *admissionTable) Restore(br *bufio.Reader) (func(), error) {
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

// isAdmitted reports whether node is in the local replica's admitted set.
func (a *admissionTable) isAdmitted(node string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	_, ok := a.admitted[node]
	return ok
}

// nodes lists the admitted set by name.
func (a *admissionTable) nodes() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.admitted))
	for n := range a.admitted {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// encodeAdmitted is the snapshot section of the admitted set: count, then
// (node, index) pairs by name.
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
		return nil, wire.ErrMalformed
	}
	out := make(map[string]uint64, min(n, admittedHint))
	for i := 0; i < n; i++ {
		node, index := d.String(), d.Uvarint()
		if d.Err() != nil {
			return nil, d.Err()
		}
		if err := config.ValidNodeName("node", node); err != nil {
			return nil, err
		}
		out[node] = index
	}
	return out, d.Done()
}

// Admit records node as admitted to the Raft core (raft.admission: manual):
// the leader adds it, as a standby first, once it has been alive for the
// stabilisation window. Admitting a node twice, or one already in the
// core, is not an error.
func (n *Node) Admit(ctx context.Context, node string) error {
	if err := config.ValidNodeName("node", node); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	c := wire.Command(tableAdmission, adAdmit)
	c.String(node)
	resp, err := n.core.Apply(ctx, c.Data())
	if err != nil {
		return fmt.Errorf("admit %q: %w", node, coreErr(err))
	}
	if _, refused := wire.ParseResult(resp); refused != nil {
		return fmt.Errorf("admit %q: %w", node, refused)
	}
	n.log.Info().Str("peer", node).Msg("node admitted")
	n.core.Notify()
	return nil
}

// AdmittedNodes lists, by name, the servers admitted to the Raft core in
// this node's replica (empty on a client node, which holds none).
func (n *Node) AdmittedNodes() []string { return n.admission.nodes() }

// admissions adapts the FSM's admitted set to raftcore.Admissions.
type admissions struct{ n *Node }

func (a admissions) Admitted(id string) bool { return a.n.admission.isAdmitted(id) }

func (a admissions) Admit(ctx context.Context, id string) error { return a.n.Admit(ctx, id) }
