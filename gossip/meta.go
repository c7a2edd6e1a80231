package gossip

import (
	"encoding/binary"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// BootstrapState is a node's position in the bootstrap_expect protocol
// (DESIGN §5).
type BootstrapState uint8

const (
	// BootstrapNone: not taking part (bootstrap_expect 0, or a client).
	BootstrapNone BootstrapState = iota
	// BootstrapPending: waiting to bootstrap with Meta.Expect peers.
	BootstrapPending
	// BootstrapDone: has Raft state or belongs to a formed cluster.
	BootstrapDone
)

// String names the state for logs and status output.
func (s BootstrapState) String() string {
	switch s {
	case BootstrapNone:
		return "none"
	case BootstrapPending:
		return "pending"
	case BootstrapDone:
		return "done"
	default:
		return fmt.Sprintf("bootstrap(%d)", uint8(s))
	}
}

// Meta is the metadata a node gossips about itself. It travels in every
// memberlist alive message, so it must stay under memberlist.MetaMaxSize
// (512 bytes) once encoded.
type Meta struct {
	Role          string // raft.role hint: "auto" | "client"
	Eligible      bool
	Priority      int
	FailureDomain string
	InternodeAddr string // host:port of the node's internode mesh (Raft address)
	APIAddr       string // gRPC host:port
	HTTPAddr      string
	Expect        int // bootstrap_expect
	Bootstrap     BootstrapState
	Nonce         string // random per pre-bootstrap node, used to mint the cluster ID
	ClusterID     string // "" until known
	Leader        string // Raft leader ID as this node knows it, "" if none
	Term          uint64 // Raft term of that knowledge
	// Leaving is set by Membership.Leave just before the leave broadcast so
	// peers can tell a graceful departure from a failure (memberlist v0.6.0
	// does not tell its delegates; see the package comment).
	Leaving bool
}

// metaVersion is the first byte of every encoded Meta. Bump it only for an
// incompatible change; new fields get new tags instead, which old decoders
// skip.
const metaVersion = 1

// Field tags of the version-1 encoding. Never reuse a retired tag.
const (
	tagRole uint64 = iota + 1
	tagEligible
	tagPriority
	tagFailureDomain
	tagInternodeAddr
	tagAPIAddr
	tagHTTPAddr
	tagExpect
	tagBootstrap
	tagNonce
	tagClusterID
	tagLeader
	tagTerm
	tagLeaving
	tagLast = tagLeaving
)

// Encode returns the compact encoding: a version byte, then for every
// non-zero field a uvarint tag, a uvarint length and the value (strings as
// bytes, bools as one byte, integers as varints). Zero fields are omitted, so
// a fresh node's meta is a few dozen bytes.
func (m Meta) Encode() ([]byte, error) {
	b := make([]byte, 1, 128)
	b[0] = metaVersion
	b = appendString(b, tagRole, m.Role)
	b = appendBool(b, tagEligible, m.Eligible)
	b = appendVarint(b, tagPriority, int64(m.Priority))
	b = appendString(b, tagFailureDomain, m.FailureDomain)
	b = appendString(b, tagInternodeAddr, m.InternodeAddr)
	b = appendString(b, tagAPIAddr, m.APIAddr)
	b = appendString(b, tagHTTPAddr, m.HTTPAddr)
	b = appendVarint(b, tagExpect, int64(m.Expect))
	b = appendUvarint(b, tagBootstrap, uint64(m.Bootstrap))
	b = appendString(b, tagNonce, m.Nonce)
	b = appendString(b, tagClusterID, m.ClusterID)
	b = appendString(b, tagLeader, m.Leader)
	b = appendUvarint(b, tagTerm, m.Term)
	b = appendBool(b, tagLeaving, m.Leaving)
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

func appendField(b []byte, tag uint64, v []byte) []byte {
	b = binary.AppendUvarint(b, tag)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, tag uint64, s string) []byte {
	if s == "" {
		return b
	}
	b = binary.AppendUvarint(b, tag)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, tag uint64, v bool) []byte {
	if !v {
		return b
	}
	return appendField(b, tag, []byte{1})
}

func appendVarint(b []byte, tag uint64, v int64) []byte {
	if v == 0 {
		return b
	}
	var tmp [binary.MaxVarintLen64]byte
	return appendField(b, tag, binary.AppendVarint(tmp[:0], v))
}

func appendUvarint(b []byte, tag uint64, v uint64) []byte {
	if v == 0 {
		return b
	}
	var tmp [binary.MaxVarintLen64]byte
	return appendField(b, tag, binary.AppendUvarint(tmp[:0], v))
}

// DecodeMeta parses bytes produced by Encode (of this or a later version of
// the version-1 format). Unknown tags are skipped; truncated, oversized or
// otherwise malformed input returns an error wrapping ErrMetaMalformed (or
// ErrMetaVersion) and never panics: the bytes come straight off the network.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty", ErrMetaMalformed)
	}
	if len(b) > memberlist.MetaMaxSize {
		return m, fmt.Errorf("%w: %d bytes, limit %d", ErrMetaMalformed, len(b), memberlist.MetaMaxSize)
	}
	if b[0] != metaVersion {
		return m, fmt.Errorf("%w: %d", ErrMetaVersion, b[0])
	}
	var seen uint64 // bit per known tag, to refuse duplicates
	rest := b[1:]
	for len(rest) > 0 {
		tag, n := binary.Uvarint(rest)
		if n <= 0 {
			return Meta{}, fmt.Errorf("%w: bad tag", ErrMetaMalformed)
		}
		rest = rest[n:]
		size, n := binary.Uvarint(rest)
		if n <= 0 {
			return Meta{}, fmt.Errorf("%w: bad length of tag %d", ErrMetaMalformed, tag)
		}
		rest = rest[n:]
		if size > uint64(len(rest)) {
			return Meta{}, fmt.Errorf("%w: tag %d truncated", ErrMetaMalformed, tag)
		}
		val := rest[:size]
		rest = rest[size:]
		if tag == 0 || tag > tagLast {
			continue // a field from a newer version: skip it
		}
		if seen&(1<<tag) != 0 {
			return Meta{}, fmt.Errorf("%w: duplicate tag %d", ErrMetaMalformed, tag)
		}
		seen |= 1 << tag
		if err := m.setField(tag, val); err != nil {
			return Meta{}, err
		}
	}
	return m, nil
}

func (m *Meta) setField(tag uint64, val []byte) error {
	var err error
	switch tag {
	case tagRole:
		m.Role = string(val)
	case tagEligible:
		m.Eligible, err = decodeBool(tag, val)
	case tagPriority:
		var v int64
		v, err = decodeVarint(tag, val)
		m.Priority = int(v)
		if int64(m.Priority) != v {
			err = fmt.Errorf("%w: tag %d overflows int", ErrMetaMalformed, tag)
		}
	case tagFailureDomain:
		m.FailureDomain = string(val)
	case tagInternodeAddr:
		m.InternodeAddr = string(val)
	case tagAPIAddr:
		m.APIAddr = string(val)
	case tagHTTPAddr:
		m.HTTPAddr = string(val)
	case tagExpect:
		var v int64
		v, err = decodeVarint(tag, val)
		m.Expect = int(v)
		if int64(m.Expect) != v {
			err = fmt.Errorf("%w: tag %d overflows int", ErrMetaMalformed, tag)
		}
	case tagBootstrap:
		var v uint64
		v, err = decodeUvarint(tag, val)
		if err == nil && v > uint64(BootstrapDone) {
			err = fmt.Errorf("%w: unknown bootstrap state %d", ErrMetaMalformed, v)
		}
		m.Bootstrap = BootstrapState(v)
	case tagNonce:
		m.Nonce = string(val)
	case tagClusterID:
		m.ClusterID = string(val)
	case tagLeader:
		m.Leader = string(val)
	case tagTerm:
		m.Term, err = decodeUvarint(tag, val)
	case tagLeaving:
		m.Leaving, err = decodeBool(tag, val)
	}
	return err
}

func decodeBool(tag uint64, val []byte) (bool, error) {
	if len(val) != 1 || val[0] > 1 {
		return false, fmt.Errorf("%w: tag %d is not a bool", ErrMetaMalformed, tag)
	}
	return val[0] == 1, nil
}

// decodeVarint insists the varint fills the value exactly, so a corrupted
// length cannot silently shift a number.
func decodeVarint(tag uint64, val []byte) (int64, error) {
	v, n := binary.Varint(val)
	if n <= 0 || n != len(val) {
		return 0, fmt.Errorf("%w: tag %d is not a varint", ErrMetaMalformed, tag)
	}
	return v, nil
}

func decodeUvarint(tag uint64, val []byte) (uint64, error) {
	v, n := binary.Uvarint(val)
	if n <= 0 || n != len(val) {
		return 0, fmt.Errorf("%w: tag %d is not a uvarint", ErrMetaMalformed, tag)
	}
	return v, nil
}
