package naming

import (
	"fmt"
	"sort"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Wire format: kind byte, then sections (one per origin node): node, its
// incarnation, then its claims: name, version, deleted, pid, meta,
// claimed-at. A section for this node is always present in a state, so a
// restarted node's new incarnation reaches peers even with no claims.
const (
	msgDelta = 1
	msgState = 2
	// maxSections and maxClaims bound what one message may make us
	// allocate, on top of the byte-length checks.
	maxSections = 1 << 12
	maxClaims   = 1 << 20
)

type section struct {
	node   string
	inc    uint64
	claims []*claim
}

func (e *Eventual) encodeLocked(kind byte, cs []*claim) []byte {
	by := map[string][]*claim{}
	if kind == msgState {
		by[e.self] = nil
	}
	for _, c := range cs {
		by[c.node] = append(by[c.node], c)
	}
	nodes := make([]string, 0, len(by))
	for n := range by {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	w := wire.NewEncoder(kind)
	w.Uvarint(uint64(len(nodes)))
	for _, n := range nodes {
		inc := e.incs[n]
		cl := by[n]
		sort.Slice(cl, func(i, j int) bool { return cl[i].name < cl[j].name })
		w.String(n)
		w.Uvarint(inc)
		w.Uvarint(uint64(len(cl)))
		for _, c := range cl {
			w.String(c.name)
			w.Uvarint(c.inc)
			w.Uvarint(c.ver)
			w.Bool(c.deleted)
			w.String(c.pid)
			w.Bytes(c.meta)
			w.Uvarint(uint64(c.claimedAt))
		}
	}
	return w.Data()
}

func decodeMessage(msg []byte) (byte, []section, error) {
	d := wire.NewDecoder(msg)
	kind := d.Byte()
	if d.Err() == nil && kind != msgDelta && kind != msgState {
		return 0, nil, fmt.Errorf("%w: message kind %d", wire.ErrMalformed, kind)
	}
	n := d.Count(1)
	if n > maxSections {
		return 0, nil, fmt.Errorf("%w: %d sections", wire.ErrMalformed, n)
	}
	out := make([]section, 0, n)
	total := 0
	for i := 0; i < n && d.Err() == nil; i++ {
		s := section{node: d.StringMax(wire.MaxPIDLen), inc: d.Uvarint()}
		m := d.Count(1)
		total += m
		if total > maxClaims {
			return 0, nil, fmt.Errorf("%w: more than %d claims", wire.ErrMalformed, maxClaims)
		}
		for j := 0; j < m && d.Err() == nil; j++ {
			c := &claim{node: s.node, name: d.StringMax(wire.MaxNameLen), inc: d.Uvarint(), ver: d.Uvarint()}
			c.deleted = d.Bool()
			c.pid = d.StringMax(wire.MaxPIDLen)
			c.meta = d.BytesMax(MaxMetaLen)
			c.claimedAt = int64(d.Uvarint())
			if d.Err() != nil {
				break
			}
			if c.inc != s.inc {
				return 0, nil, fmt.Errorf("%w: claim %q of %s: incarnation %d in a section of %d", wire.ErrMalformed, c.name, s.node, c.inc, s.inc)
			}
			if err := validateName(c.name); err != nil {
				return 0, nil, err
			}
			if !c.deleted {
				if err := wire.ValidatePID("pid", c.pid); err != nil {
					return 0, nil, err
				}
				if wire.NodeOf(c.pid) != s.node {
					return 0, nil, fmt.Errorf("%w: claim %q: pid %s is not a session of %s", wire.ErrMalformed, c.name, c.pid, s.node)
				}
			}
			s.claims = append(s.claims, c)
		}
		if s.node == "" && d.Err() == nil {
			return 0, nil, fmt.Errorf("%w: section without a node", wire.ErrMalformed)
		}
		out = append(out, s)
	}
	if err := d.Done(); err != nil {
		return 0, nil, err
	}
	return kind, out, nil
}
