package naming

import (
	"fmt"
	"sort"
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
	w := &enc{}
	w.byte(kind)
	w.uvarint(uint64(len(nodes)))
	for _, n := range nodes {
		inc := e.incs[n]
		cl := by[n]
		sort.Slice(cl, func(i, j int) bool { return cl[i].name < cl[j].name })
		w.string(n)
		w.uvarint(inc)
		w.uvarint(uint64(len(cl)))
		for _, c := range cl {
			w.string(c.name)
			w.uvarint(c.inc)
			w.uvarint(c.ver)
			w.byte(boolByte(c.deleted))
			w.string(c.pid)
			w.bytes(c.meta)
			w.uvarint(uint64(c.claimedAt))
		}
	}
	return w.b
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func decodeMessage(msg []byte) (byte, []section, error) {
	d := &dec{b: msg}
	kind := d.byte()
	if d.err == nil && kind != msgDelta && kind != msgState {
		return 0, nil, fmt.Errorf("%w: message kind %d", errMalformed, kind)
	}
	n := d.count()
	if n > maxSections {
		return 0, nil, fmt.Errorf("%w: %d sections", errMalformed, n)
	}
	out := make([]section, 0, n)
	total := 0
	for i := 0; i < n && d.err == nil; i++ {
		s := section{node: d.string(MaxPIDLen), inc: d.uvarint()}
		m := d.count()
		total += m
		if total > maxClaims {
			return 0, nil, fmt.Errorf("%w: more than %d claims", errMalformed, maxClaims)
		}
		for j := 0; j < m && d.err == nil; j++ {
			c := &claim{node: s.node, name: d.string(MaxNameLen), inc: d.uvarint(), ver: d.uvarint()}
			c.deleted = d.byte() == 1
			c.pid = d.string(MaxPIDLen)
			c.meta = d.bytes(MaxMetaLen)
			c.claimedAt = int64(d.uvarint())
			if d.err != nil {
				break
			}
			if c.inc != s.inc {
				return 0, nil, fmt.Errorf("%w: claim %q of %s: incarnation %d in a section of %d", errMalformed, c.name, s.node, c.inc, s.inc)
			}
			if err := ValidateName(c.name); err != nil {
				return 0, nil, err
			}
			if !c.deleted {
				if err := ValidatePID(c.pid); err != nil {
					return 0, nil, err
				}
				if NodeOf(c.pid) != s.node {
					return 0, nil, fmt.Errorf("%w: claim %q: pid %s is not a session of %s", errMalformed, c.name, c.pid, s.node)
				}
			}
			s.claims = append(s.claims, c)
		}
		if s.node == "" && d.err == nil {
			return 0, nil, fmt.Errorf("%w: section without a node", errMalformed)
		}
		out = append(out, s)
	}
	if err := d.done(); err != nil {
		return 0, nil, err
	}
	return kind, out, nil
}
