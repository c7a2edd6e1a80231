package pg

import (
	"encoding/binary"
	"fmt"
)

// Wire format of class "groups" (version 1). Every message starts with the
// version byte and a type byte; strings and byte strings are uvarint
// length-prefixed, numbers are uvarints.
//
//	sync      (request)  node, incarnation, seq, n × (scope, group, m × pid)
//	          reply: the receiver's own sync (the exchange of DESIGN §9)
//	delta     (request)  node, incarnation, base, seq, n × (op, scope, group, pid)
//	          reply: one byte, 0 applied or stale, 1 send me a full sync
//	digest    (request)  node, incarnation, seq (the sender's own version),
//	                     known (0/1), incarnation, seq (the receiver's version
//	                     as the sender knows it)
//	          reply: one byte, bit 0 set: send me a full sync
//	broadcast (one-way)  node, scope, group, from, payload
//
// A node only ever announces its own members: every PID of a sync or delta
// must belong to the node that sent it.
const (
	wireVersion byte = 1

	msgSync      byte = 1
	msgDelta     byte = 2
	msgDigest    byte = 3
	msgBroadcast byte = 4

	replyOK       byte = 0
	replyNeedSync byte = 1
)

// Message is a broadcast as members receive it.
type Message struct {
	Key     Key
	From    string // the sender: a PID, or a node name
	Payload []byte
}

// digest is one side of an anti-entropy comparison.
type digest struct {
	node  string
	own   Version
	known bool    // the sender knows the receiver
	yours Version // the receiver's version as the sender knows it
}

type broadcastMsg struct {
	node string
	msg  Message
}

type enc struct{ b []byte }

func newEnc(typ byte) *enc { return &enc{b: []byte{wireVersion, typ}} }

func (e *enc) byte(v byte)      { e.b = append(e.b, v) }
func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) string(v string) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) bytes(v []byte) {
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func encodeSync(sy Sync) []byte {
	e := newEnc(msgSync)
	e.string(sy.Node)
	e.uvarint(sy.Version.Incarnation)
	e.uvarint(sy.Version.Seq)
	e.uvarint(uint64(len(sy.Groups)))
	for _, g := range sy.Groups {
		e.string(g.Key.Scope)
		e.string(g.Key.Group)
		e.uvarint(uint64(len(g.PIDs)))
		for _, pid := range g.PIDs {
			e.string(pid)
		}
	}
	return e.b
}

func encodeDelta(d Delta) []byte {
	e := newEnc(msgDelta)
	e.string(d.Node)
	e.uvarint(d.Incarnation)
	e.uvarint(d.Base)
	e.uvarint(d.Seq)
	e.uvarint(uint64(len(d.Ops)))
	for _, op := range d.Ops {
		if op.Leave {
			e.byte(1)
		} else {
			e.byte(0)
		}
		e.string(op.Key.Scope)
		e.string(op.Key.Group)
		e.string(op.PID)
	}
	return e.b
}

func encodeDigest(d digest) []byte {
	e := newEnc(msgDigest)
	e.string(d.node)
	e.uvarint(d.own.Incarnation)
	e.uvarint(d.own.Seq)
	if d.known {
		e.byte(1)
	} else {
		e.byte(0)
	}
	e.uvarint(d.yours.Incarnation)
	e.uvarint(d.yours.Seq)
	return e.b
}

func encodeBroadcast(node string, m Message) []byte {
	e := &enc{b: make([]byte, 0, 16+len(node)+len(m.Key.Scope)+len(m.Key.Group)+len(m.From)+len(m.Payload))}
	e.byte(wireVersion)
	e.byte(msgBroadcast)
	e.string(node)
	e.string(m.Key.Scope)
	e.string(m.Key.Group)
	e.string(m.From)
	e.bytes(m.Payload)
	return e.b
}

// dec reads what enc wrote; the first error sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", ErrMalformed, what)
	}
}

func (d *dec) byte(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a list length; every element takes at least one byte, so a
// count above the bytes left is a lie and must not size an allocation.
func (d *dec) count(what string) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail(what)
		return 0
	}
	return int(n)
}

func (d *dec) rawBytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) string(what string) string { return string(d.rawBytes(what)) }

// check records err (a validation failure) as malformed input.
func (d *dec) check(err error) {
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}

func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return d.err
}

// header checks the version and returns the message type and a decoder of
// the rest.
func header(b []byte) (byte, *dec, error) {
	if len(b) < 2 {
		return 0, nil, fmt.Errorf("%w: %d bytes, no header", ErrMalformed, len(b))
	}
	if b[0] != wireVersion {
		return 0, nil, fmt.Errorf("%w: wire version %d, want %d", ErrMalformed, b[0], wireVersion)
	}
	return b[1], &dec{b: b[2:]}, nil
}

// key reads and validates a group key (reserved names allowed: the
// heartbeat group travels too).
func (d *dec) key() Key {
	k := Key{Scope: d.string("scope"), Group: d.string("group")}
	if d.err == nil {
		d.check(ValidateKey(k, true))
	}
	return k
}

// ownPID reads a PID that must belong to node.
func (d *dec) ownPID(node string) string {
	pid := d.string("pid")
	if d.err != nil {
		return ""
	}
	d.check(ValidatePID("pid", pid))
	if d.err == nil && NodeOf(pid) != node {
		d.check(fmt.Errorf("pid %q is not of node %q", pid, node))
	}
	return pid
}

func (d *dec) node() string {
	n := d.string("node")
	if d.err == nil && (n == "" || len(n) > MaxPIDLen) {
		d.fail("node")
	}
	return n
}

func decodeSync(d *dec) (Sync, error) {
	sy := Sync{Node: d.node()}
	sy.Version = Version{Incarnation: d.uvarint("incarnation"), Seq: d.uvarint("seq")}
	groups := d.count("groups")
	for i := 0; i < groups && d.err == nil; i++ {
		g := GroupMembers{Key: d.key()}
		pids := d.count("pids")
		for j := 0; j < pids && d.err == nil; j++ {
			g.PIDs = append(g.PIDs, d.ownPID(sy.Node))
		}
		sy.Groups = append(sy.Groups, g)
	}
	return sy, d.done()
}

func decodeDelta(d *dec) (Delta, error) {
	dl := Delta{Node: d.node(), Incarnation: d.uvarint("incarnation"), Base: d.uvarint("base"), Seq: d.uvarint("seq")}
	ops := d.count("ops")
	if d.err == nil && (dl.Seq < dl.Base || uint64(ops) != dl.Seq-dl.Base) {
		d.check(fmt.Errorf("%d ops from seq %d to %d", ops, dl.Base, dl.Seq))
	}
	for i := 0; i < ops && d.err == nil; i++ {
		var op Op
		switch d.byte("op") {
		case 0:
		case 1:
			op.Leave = true
		default:
			d.fail("op")
		}
		op.Key = d.key()
		op.PID = d.ownPID(dl.Node)
		dl.Ops = append(dl.Ops, op)
	}
	return dl, d.done()
}

func decodeDigest(d *dec) (digest, error) {
	dg := digest{node: d.node()}
	dg.own = Version{Incarnation: d.uvarint("incarnation"), Seq: d.uvarint("seq")}
	switch d.byte("known") {
	case 0:
	case 1:
		dg.known = true
	default:
		d.fail("known")
	}
	dg.yours = Version{Incarnation: d.uvarint("incarnation"), Seq: d.uvarint("seq")}
	return dg, d.done()
}

func decodeBroadcast(d *dec) (broadcastMsg, error) {
	m := broadcastMsg{node: d.node()}
	m.msg.Key = d.key()
	m.msg.From = d.string("from")
	m.msg.Payload = d.rawBytes("payload")
	return m, d.done()
}

// decodeReplyByte reads a one-byte reply.
func decodeReplyByte(b []byte) (byte, error) {
	if len(b) != 1 {
		return 0, fmt.Errorf("%w: reply of %d bytes, want 1", ErrMalformed, len(b))
	}
	return b[0], nil
}
