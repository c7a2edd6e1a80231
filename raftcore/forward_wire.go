package raftcore

import (
	"encoding/binary"
	"fmt"
)

// The encoders and decoders of the forward protocol (wire format in
// forward.go). The decoders take bytes off the network: they return an
// error wrapping ErrMalformed for anything an encoder here would not have
// written, never panic, and allocate no more than their input holds.

// encodeForward is a forwarded request: version, op, body.
func encodeForward(op byte, body []byte) []byte {
	req := make([]byte, 0, 2+len(body))
	req = append(req, fwdVersion, op)
	return append(req, body...)
}

// decodeForward checks a forwarded request's version and op; body aliases
// req.
func decodeForward(req []byte) (op byte, body []byte, err error) {
	if len(req) < 2 || req[0] != fwdVersion {
		return 0, nil, fmt.Errorf("%w: bad header", ErrMalformed)
	}
	op, body = req[1], req[2:]
	if op < opApply || op > opContactLog {
		return 0, nil, fmt.Errorf("%w: unknown op %d", ErrMalformed, op)
	}
	return op, body, nil
}

// encodeStatus is the body of an op status reply: the answering node's
// last log index and current term.
func encodeStatus(lastIndex, term uint64) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, lastIndex), term)
}

// decodeStatus reads an op status reply body.
func decodeStatus(body []byte) (lastIndex, term uint64, err error) {
	lastIndex, k := binary.Uvarint(body)
	if k <= 0 {
		return 0, 0, fmt.Errorf("%w: status: last index", ErrMalformed)
	}
	term, k2 := binary.Uvarint(body[k:])
	if k2 <= 0 {
		return 0, 0, fmt.Errorf("%w: status: term", ErrMalformed)
	}
	return lastIndex, term, nil
}

// encodeContact is the body of an op contact reply: the answering node's
// term, the milliseconds since it last heard from its leader, and that
// leader's ID (empty if it knows none).
func encodeContact(ct contact) []byte {
	b := binary.AppendUvarint(binary.AppendUvarint(nil, ct.term), ct.silentMs)
	return append(b, ct.leader...)
}

// decodeContact reads an op contact reply body; leader is copied.
func decodeContact(body []byte) (contact, error) {
	var ct contact
	rest, err := uvarints(body, "contact", []string{"term", "silence"}, &ct.term, &ct.silentMs)
	if err != nil {
		return contact{}, err
	}
	ct.leader = string(rest)
	return ct, nil
}

// encodeContactLog is the body of an op contact-log reply: an op contact
// body with the last log index and term before the leader.
func encodeContactLog(ct contact) []byte {
	b := binary.AppendUvarint(binary.AppendUvarint(nil, ct.term), ct.silentMs)
	b = binary.AppendUvarint(binary.AppendUvarint(b, ct.lastIndex), ct.lastTerm)
	return append(b, ct.leader...)
}

// decodeContactLog reads an op contact-log reply body; leader is copied.
func decodeContactLog(body []byte) (contact, error) {
	ct := contact{hasLog: true}
	rest, err := uvarints(body, "contact", []string{"term", "silence", "last index", "last term"},
		&ct.term, &ct.silentMs, &ct.lastIndex, &ct.lastTerm)
	if err != nil {
		return contact{}, err
	}
	ct.leader = string(rest)
	return ct, nil
}

// uvarints reads one uvarint into each of dst, named by names in errors,
// and returns the bytes after them.
func uvarints(b []byte, what string, names []string, dst ...*uint64) ([]byte, error) {
	for i, d := range dst {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("%w: %s: %s", ErrMalformed, what, names[i])
		}
		*d, b = v, b[k:]
	}
	return b, nil
}

// encodeQuery is the body of an op query: the read mode, then the query.
func encodeQuery(mode ReadMode, q []byte) []byte {
	return append([]byte{byte(mode)}, q...)
}

// decodeQuery splits an op query body; q aliases body.
func decodeQuery(body []byte) (mode ReadMode, q []byte, err error) {
	if len(body) < 1 || ReadMode(body[0]) > ReadConsistent {
		return 0, nil, fmt.Errorf("%w: query", ErrMalformed)
	}
	return ReadMode(body[0]), body[1:], nil
}

// encodeReply is a forward reply: status, then body.
func encodeReply(st byte, body []byte) []byte {
	return append([]byte{st}, body...)
}

// decodeReply splits a forward reply; body aliases reply. A status this
// protocol does not have is malformed rather than "not done": a caller
// retries only what surely was not done.
func decodeReply(reply []byte) (st byte, body []byte, err error) {
	if len(reply) < 1 {
		return 0, nil, fmt.Errorf("%w: empty reply", ErrMalformed)
	}
	if reply[0] > stError {
		return 0, nil, fmt.Errorf("%w: reply status %d", ErrMalformed, reply[0])
	}
	return reply[0], reply[1:], nil
}

// minServerBytes is the smallest encoded server (three empty strings); it
// bounds the server count a reply can claim before anything is allocated.
const minServerBytes = 3

func encodeServers(ss []Server) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ss)))
	for _, s := range ss {
		for _, f := range []string{s.ID, s.Address, s.Suffrage} {
			b = binary.AppendUvarint(b, uint64(len(f)))
			b = append(b, f...)
		}
	}
	return b
}

func decodeServers(b []byte) ([]Server, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k)/minServerBytes {
		return nil, fmt.Errorf("%w: configuration", ErrMalformed)
	}
	b = b[k:]
	out := make([]Server, 0, n)
	for i := uint64(0); i < n; i++ {
		var f [3]string
		for j := range f {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return nil, fmt.Errorf("%w: configuration", ErrMalformed)
			}
			f[j] = string(b[k : k+int(l)])
			b = b[k+int(l):]
		}
		out = append(out, Server{ID: f[0], Address: f[1], Suffrage: f[2]})
	}
	return out, nil
}
