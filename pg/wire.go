package pg

import (
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Wire format of class "groups" (version 1). Every message starts with the
// version byte and a type byte; the fields follow in internal/wire's codec
// (strings and byte strings uvarint length-prefixed, numbers uvarints,
// flags one byte, 0 or 1).
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

func encodeSync(sy Sync) []byte {
	e := wire.NewEncoder(wireVersion, msgSync)
	e.String(sy.Node)
	e.Uvarint(sy.Version.Incarnation)
	e.Uvarint(sy.Version.Seq)
	e.Uvarint(uint64(len(sy.Groups)))
	for _, g := range sy.Groups {
		e.String(g.Key.Scope)
		e.String(g.Key.Group)
		e.Uvarint(uint64(len(g.PIDs)))
		for _, pid := range g.PIDs {
			e.String(pid)
		}
	}
	return e.Data()
}

func encodeDelta(d Delta) []byte {
	e := wire.NewEncoder(wireVersion, msgDelta)
	e.String(d.Node)
	e.Uvarint(d.Incarnation)
	e.Uvarint(d.Base)
	e.Uvarint(d.Seq)
	e.Uvarint(uint64(len(d.Ops)))
	for _, op := range d.Ops {
		e.Bool(op.Leave)
		e.String(op.Key.Scope)
		e.String(op.Key.Group)
		e.String(op.PID)
	}
	return e.Data()
}

func encodeDigest(d digest) []byte {
	e := wire.NewEncoder(wireVersion, msgDigest)
	e.String(d.node)
	e.Uvarint(d.own.Incarnation)
	e.Uvarint(d.own.Seq)
	e.Bool(d.known)
	e.Uvarint(d.yours.Incarnation)
	e.Uvarint(d.yours.Seq)
	return e.Data()
}

func encodeBroadcast(node string, m Message) []byte {
	e := wire.NewEncoder(wireVersion, msgBroadcast)
	e.String(node)
	e.String(m.Key.Scope)
	e.String(m.Key.Group)
	e.String(m.From)
	e.Bytes(m.Payload)
	return e.Data()
}

// header checks the version and returns the message type and a decoder of
// the rest.
func header(b []byte) (byte, *wire.Decoder, error) {
	if len(b) < 2 {
		return 0, nil, fmt.Errorf("%w: %d bytes, no header", ErrMalformed, len(b))
	}
	if b[0] != wireVersion {
		return 0, nil, fmt.Errorf("%w: wire version %d, want %d", ErrMalformed, b[0], wireVersion)
	}
	return b[1], wire.NewDecoder(b[2:]), nil
}

// check records err, a field that read well but breaks a rule, as
// malformed input.
func check(d *wire.Decoder, err error) {
	if err != nil {
		d.Fail(err.Error())
	}
}

// flag reads a byte that must be 0 or 1.
func flag(d *wire.Decoder, field string) bool {
	switch b := d.Field(field).Byte(); {
	case d.Err() != nil, b == 0:
		return false
	case b == 1:
		return true
	default:
		d.Fail(fmt.Sprintf("%s: %d is neither 0 nor 1", field, b))
		return false
	}
}

// decodeKey reads and validates a group key (reserved names allowed: the
// heartbeat group travels too).
func decodeKey(d *wire.Decoder) Key {
	k := Key{Scope: d.Field("scope").String(), Group: d.Field("group").String()}
	if d.Err() == nil {
		check(d, ValidateKey(k, true))
	}
	return k
}

// ownPID reads a PID that must belong to node.
func ownPID(d *wire.Decoder, node string) string {
	pid := d.Field("pid").String()
	if d.Err() != nil {
		return ""
	}
	check(d, wire.ValidatePID("pid", pid))
	if d.Err() == nil && wire.NodeOf(pid) != node {
		d.Fail(fmt.Sprintf("pid %q is not of node %q", pid, node))
	}
	return pid
}

// decodeNode reads the sender's node name, the first field of every
// message.
func decodeNode(d *wire.Decoder) string {
	n := d.Field("node").StringMax(wire.MaxPIDLen)
	if d.Err() == nil && n == "" {
		d.Fail("node: empty")
	}
	return n
}

func decodeSync(d *wire.Decoder) (Sync, error) {
	sy := Sync{Node: decodeNode(d)}
	sy.Version = Version{Incarnation: d.Field("incarnation").Uvarint(), Seq: d.Field("seq").Uvarint()}
	groups := d.Field("groups").Count(1)
	for i := 0; i < groups && d.Err() == nil; i++ {
		g := GroupMembers{Key: decodeKey(d)}
		pids := d.Field("pids").Count(1)
		for j := 0; j < pids && d.Err() == nil; j++ {
			g.PIDs = append(g.PIDs, ownPID(d, sy.Node))
		}
		sy.Groups = append(sy.Groups, g)
	}
	return sy, d.Done()
}

func decodeDelta(d *wire.Decoder) (Delta, error) {
	dl := Delta{Node: decodeNode(d)}
	dl.Incarnation = d.Field("incarnation").Uvarint()
	dl.Base = d.Field("base").Uvarint()
	dl.Seq = d.Field("seq").Uvarint()
	ops := d.Field("ops").Count(1)
	if d.Err() == nil && (dl.Seq < dl.Base || uint64(ops) != dl.Seq-dl.Base) {
		d.Fail(fmt.Sprintf("ops: %d from seq %d to %d", ops, dl.Base, dl.Seq))
	}
	for i := 0; i < ops && d.Err() == nil; i++ {
		op := Op{Leave: flag(d, "op")}
		op.Key = decodeKey(d)
		op.PID = ownPID(d, dl.Node)
		dl.Ops = append(dl.Ops, op)
	}
	return dl, d.Done()
}

func decodeDigest(d *wire.Decoder) (digest, error) {
	dg := digest{node: decodeNode(d)}
	dg.own = Version{Incarnation: d.Field("incarnation").Uvarint(), Seq: d.Field("seq").Uvarint()}
	dg.known = flag(d, "known")
	dg.yours = Version{Incarnation: d.Field("incarnation").Uvarint(), Seq: d.Field("seq").Uvarint()}
	return dg, d.Done()
}

func decodeBroadcast(d *wire.Decoder) (broadcastMsg, error) {
	m := broadcastMsg{node: decodeNode(d)}
	m.msg.Key = decodeKey(d)
	m.msg.From = d.Field("from").String()
	m.msg.Payload = d.Field("payload").Bytes()
	return m, d.Done()
}

// decodeReplyByte reads a one-byte reply.
func decodeReplyByte(b []byte) (byte, error) {
	if len(b) != 1 {
		return 0, fmt.Errorf("%w: reply of %d bytes, want 1", ErrMalformed, len(b))
	}
	return b[0], nil
}
