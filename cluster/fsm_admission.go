package cluster

import (
	"context"
	"fmt"
	"sort"

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
func decodeAdmission(op byte, d *dec) (string, error) {
	if op != adAdmit {
		return "", fmt.Errorf("%w: unknown admission op %d", ErrInvalidArgument, op)
	}
	node := d.string()
	if err := d.done(); err != nil {
		return "", fmt.Errorf("%w: malformed admit: %w", ErrInvalidArgument, err)
	}
	if err := config.ValidNodeName("node", node); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return node, nil
}

func (f *fsm) applyAdmission(index uint64, op byte, d *dec) []byte {
	node, err := decodeAdmission(op, d)
	if err != nil {
		return f.reject(index, invalidMsg(err))
	}
	if _, ok := f.admitted[node]; !ok {
		f.admitted[node] = index
	}
	return []byte{resOK}
}

// isAdmitted reports whether node is in the local replica's admitted set.
func (f *fsm) isAdmitted(node string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.admitted[node]
	return ok
}

// admittedNodes lists the admitted set by name.
func (f *fsm) admittedNodes() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]string, 0, len(f.admitted))
	for n := range f.admitted {
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
	e := &enc{}
	e.uvarint(uint64(len(names)))
	for _, n := range names {
		e.string(n)
		e.uvarint(m[n])
	}
	return e.b
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
	d := &dec{b: b}
	n := d.count(minAdmittedBytes)
	if d.err != nil {
		return nil, errShort
	}
	out := make(map[string]uint64, min(n, admittedHint))
	for i := 0; i < n; i++ {
		node, index := d.string(), d.uvarint()
		if d.err != nil {
			return nil, d.err
		}
		if err := config.ValidNodeName("node", node); err != nil {
			return nil, err
		}
		out[node] = index
	}
	return out, d.done()
}

// Admit records node as admitted to the Raft core (raft.admission: manual):
// the leader adds it, as a standby first, once it has been alive for the
// stabilisation window. Admitting a node twice, or one already in the
// core, is not an error.
func (n *Node) Admit(ctx context.Context, node string) error {
	if err := config.ValidNodeName("node", node); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	c := &enc{b: []byte{cmdVersion, tableAdmission, adAdmit}}
	c.string(node)
	resp, err := n.core.Apply(ctx, c.b)
	if err != nil {
		return fmt.Errorf("admit %q: %w", node, coreErr(err))
	}
	d := &dec{b: resp}
	if st := d.byte(); st != resOK {
		return fmt.Errorf("admit %q: %w", node, resultErr(st, d))
	}
	n.log.Info().Str("peer", node).Msg("node admitted")
	n.core.Notify()
	return nil
}

// AdmittedNodes lists, by name, the servers admitted to the Raft core in
// this node's replica (empty on a client node, which holds none).
func (n *Node) AdmittedNodes() []string { return n.fsm.admittedNodes() }

// admissions adapts the FSM's admitted set to raftcore.Admissions.
type admissions struct{ n *Node }

func (a admissions) Admitted(id string) bool { return a.n.fsm.isAdmitted(id) }

func (a admissions) Admit(ctx context.Context, id string) error { return a.n.Admit(ctx, id) }
