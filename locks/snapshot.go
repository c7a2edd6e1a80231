package locks

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Snapshot encoding, version 1. Canonical: one state has exactly one encoding
// (locks sorted by name, minimal varints, unused fields absent), so replicas
// can compare snapshots byte for byte, and decoding rejects anything else.
//
//	magic "CLKT", version byte
//	uvarint lastToken, uvarint lock count
//	per lock: string name, string holder ("" = none),
//	  if holder: uvarint token, varint grantedAt (ns), varint lockDelay (ns)
//	  byte flags (1 = in lock delay), if delayed: varint delayUntil (ns)
//	  uvarint waiter count, per waiter: string pid, varint deadline, varint lockDelay
//	string = uvarint length + bytes
//
// Version 2 is version 1 followed by the semaphores; a table without
// semaphores is still written as version 1, byte for byte as before:
//
//	uvarint semaphore count (>= 1)
//	per semaphore (sorted by key; an election's key is NUL + its name):
//	  string key, uvarint limit (1 for an election), uvarint rev,
//	  uvarint holder count (<= limit), per holder (by token):
//	  string pid, uvarint token, varint grantedAt, string value;
//	  uvarint waiter count, per waiter: string pid, varint deadline,
//	  string value (values are empty except in elections)
const (
	snapMagic      = "CLKT"
	snapVersion    = 1
	snapVersionSem = 2
	flagDelayed    = 1
	// minLockBytes is the smallest encoded lock (1-byte name, empty holder,
	// flags, delayUntil, waiter count); it bounds the lock count a buffer can
	// claim before anything is allocated.
	minLockBytes = 6
	// minWaiterBytes is the smallest encoded waiter.
	minWaiterBytes = 6
)

// MarshalBinary encodes the table canonically (see UnmarshalBinary).
func (t *Table) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 64+len(t.locks)*48)
	b = append(b, snapMagic...)
	if len(t.sems) > 0 {
		b = append(b, snapVersionSem)
	} else {
		b = append(b, snapVersion)
	}
	b = binary.AppendUvarint(b, t.lastToken)
	b = binary.AppendUvarint(b, uint64(len(t.locks)))
	for _, name := range t.sortedNames() {
		l := t.locks[name]
		b = appendString(b, l.name)
		b = appendString(b, l.holder)
		if l.holder != "" {
			b = binary.AppendUvarint(b, l.token)
			b = binary.AppendVarint(b, l.grantedAt)
			b = binary.AppendVarint(b, int64(l.holderDelay))
		}
		if l.delayed {
			b = append(b, flagDelayed)
			b = binary.AppendVarint(b, l.delayUntil)
		} else {
			b = append(b, 0)
		}
		b = binary.AppendUvarint(b, uint64(len(l.waiters)))
		for _, w := range l.waiters {
			b = appendString(b, w.pid)
			b = binary.AppendVarint(b, w.deadline)
			b = binary.AppendVarint(b, int64(w.lockDelay))
		}
	}
	if len(t.sems) > 0 {
		b = binary.AppendUvarint(b, uint64(len(t.sems)))
		for _, name := range t.sortedSemNames() {
			s := t.sems[name]
			b = appendString(b, s.name)
			b = binary.AppendUvarint(b, uint64(s.limit))
			b = binary.AppendUvarint(b, s.rev)
			b = binary.AppendUvarint(b, uint64(len(s.holders)))
			for _, h := range s.holders {
				b = appendString(b, h.pid)
				b = binary.AppendUvarint(b, h.token)
				b = binary.AppendVarint(b, h.grantedAt)
				b = appendString(b, h.value)
			}
			b = binary.AppendUvarint(b, uint64(len(s.waiters)))
			for _, w := range s.waiters {
				b = appendString(b, w.pid)
				b = binary.AppendVarint(b, w.deadline)
				b = appendString(b, w.value)
			}
		}
	}
	return b, nil
}

// UnmarshalBinary replaces the table's contents with the encoded state. It
// checks every bound and invariant (valid names and PIDs, sorted unique names,
// live locks, tokens not above the last token, bounded queues without
// duplicates, canonical varints, no trailing bytes) and never panics on bad
// input; on error (wrapping ErrCorrupt) the table is unchanged.
func (t *Table) UnmarshalBinary(data []byte) error {
	nt, err := decode(data)
	if err != nil {
		return err
	}
	*t = *nt
	return nil
}

func decode(data []byte) (*Table, error) {
	d := decoder{buf: data}
	if len(data) < len(snapMagic)+1 || string(data[:len(snapMagic)]) != snapMagic {
		return nil, corrupt("bad magic")
	}
	v := data[len(snapMagic)]
	if v != snapVersion && v != snapVersionSem {
		return nil, corrupt("version %d is not supported (want %d or %d)", v, snapVersion, snapVersionSem)
	}
	d.off = len(snapMagic) + 1
	t := New()
	t.lastToken = d.uvarint("last token")
	count := d.uvarint("lock count")
	if d.err == nil && count > uint64(d.remaining()/minLockBytes) {
		return nil, corrupt("lock count %d exceeds what %d bytes can hold", count, d.remaining())
	}
	prev := ""
	for i := uint64(0); i < count && d.err == nil; i++ {
		l := d.lock(t.lastToken)
		if d.err != nil {
			break
		}
		if i > 0 && l.name <= prev {
			return nil, corrupt("lock %q is out of order after %q", l.name, prev)
		}
		prev = l.name
		t.locks[l.name] = l
		if l.holder != "" {
			t.link(l.holder, l.name)
		}
		for _, w := range l.waiters {
			t.link(w.pid, l.name)
		}
		t.reschedule(l)
	}
	if v == snapVersionSem {
		d.sems(t)
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.remaining() != 0 {
		return nil, corrupt("%d trailing bytes", d.remaining())
	}
	return t, nil
}

type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) remaining() int { return len(d.buf) - d.off }

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corrupt("at byte %d: %s", d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		d.fail("bad %s", what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 || n != len(binary.AppendVarint(nil, v)) {
		d.fail("bad %s", what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 1 {
		d.fail("missing %s", what)
		return 0
	}
	d.off++
	return d.buf[d.off-1]
}

func (d *decoder) string(what string, limit int) string {
	n := d.uvarint(what + " length")
	if d.err != nil {
		return ""
	}
	if n > uint64(limit) || n > uint64(d.remaining()) {
		d.fail("%s length %d is out of range", what, n)
		return ""
	}
	s := string(d.buf[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

func (d *decoder) duration(what string) time.Duration {
	v := time.Duration(d.varint(what))
	if d.err == nil {
		if err := validateDuration(what, v, MaxLockDelay); err != nil {
			d.fail("%v", err)
		}
	}
	return v
}

func (d *decoder) lock(lastToken uint64) *lock {
	l := &lock{heapIdx: -1}
	l.name = d.string("name", MaxNameLen)
	if d.err == nil {
		if err := ValidateName(l.name); err != nil {
			d.fail("%v", err)
		}
	}
	l.holder = d.string("holder", MaxPIDLen)
	if d.err == nil && l.holder != "" {
		if err := validatePID("holder", l.holder); err != nil {
			d.fail("%v", err)
		}
		l.token = d.uvarint("token")
		if d.err == nil && (l.token == 0 || l.token > lastToken) {
			d.fail("lock %q token %d is outside 1..%d", l.name, l.token, lastToken)
		}
		l.grantedAt = d.varint("granted at")
		l.holderDelay = d.duration("lock_delay")
	}
	switch flags := d.byte("flags"); {
	case d.err != nil:
	case flags == flagDelayed:
		l.delayed = true
		l.delayUntil = d.varint("delay until")
	case flags != 0:
		d.fail("lock %q has unknown flags %#x", l.name, flags)
	}
	if d.err == nil && (l.holder != "") == l.delayed {
		d.fail("lock %q must either have a holder or be in lock delay", l.name)
	}
	count := d.uvarint("waiter count")
	if d.err == nil && (count > MaxWaiters || count > uint64(d.remaining()/minWaiterBytes)) {
		d.fail("lock %q waiter count %d is out of range", l.name, count)
	}
	if d.err != nil {
		return nil
	}
	if count > 0 {
		l.waiters = make([]waiter, 0, count)
	}
	seen := make(map[string]struct{}, count)
	for i := uint64(0); i < count && d.err == nil; i++ {
		w := waiter{pid: d.string("waiter", MaxPIDLen)}
		if d.err == nil {
			if err := validatePID("waiter", w.pid); err != nil {
				d.fail("%v", err)
			}
		}
		if _, dup := seen[w.pid]; d.err == nil && (dup || w.pid == l.holder) {
			d.fail("lock %q lists %s twice", l.name, w.pid)
		}
		seen[w.pid] = struct{}{}
		w.deadline = d.varint("deadline")
		w.lockDelay = d.duration("waiter lock_delay")
		l.waiters = append(l.waiters, w)
	}
	return l
}

// sems decodes the semaphore section of a version 2 snapshot into t.
func (d *decoder) sems(t *Table) {
	count := d.uvarint("semaphore count")
	if d.err == nil && (count == 0 || count > uint64(d.remaining()/4)) {
		d.fail("semaphore count %d is out of range", count)
	}
	prev := ""
	for i := uint64(0); i < count && d.err == nil; i++ {
		s := &sem{name: d.string("semaphore name", MaxNameLen+len(electPrefix))}
		elect := isElectKey(s.name)
		if d.err == nil {
			if err := ValidateName(electName(s.name)); err != nil {
				d.fail("%v", err)
			}
		}
		valueLimit := 0
		if elect {
			valueLimit = MaxElectionValue
		}
		value := func(what string) string {
			v := d.string(what, valueLimit)
			return v
		}
		if d.err == nil && i > 0 && s.name <= prev {
			d.fail("semaphore %q is out of order after %q", s.name, prev)
		}
		prev = s.name
		limit := d.uvarint("limit")
		if d.err == nil && (limit < 1 || limit > MaxSemLimit) {
			d.fail("semaphore %q limit %d is out of range", s.name, limit)
		}
		if d.err == nil && elect && limit != 1 {
			d.fail("election %q has limit %d", electName(s.name), limit)
		}
		s.limit = int(limit)
		s.rev = d.uvarint("rev")
		seen := map[string]bool{}
		nh := d.uvarint("holder count")
		if d.err == nil && (nh > limit || nh > uint64(d.remaining()/3)) {
			d.fail("semaphore %q holder count %d is out of range", s.name, nh)
		}
		var lastTok uint64
		for j := uint64(0); j < nh && d.err == nil; j++ {
			h := semHolder{pid: d.string("holder", MaxPIDLen)}
			if d.err == nil {
				if err := validatePID("holder", h.pid); err != nil {
					d.fail("%v", err)
				}
			}
			h.token = d.uvarint("token")
			h.grantedAt = d.varint("granted at")
			h.value = value("holder value")
			if d.err == nil && (h.token <= lastTok || h.token/SemTokenScale == 0 || h.token/SemTokenScale > t.lastToken) {
				d.fail("semaphore %q token %d is out of order or range", s.name, h.token)
			}
			if d.err == nil && seen[h.pid] {
				d.fail("semaphore %q lists %s twice", s.name, h.pid)
			}
			lastTok, seen[h.pid] = h.token, true
			s.holders = append(s.holders, h)
		}
		nw := d.uvarint("waiter count")
		if d.err == nil && (nw > MaxWaiters || nw > uint64(d.remaining()/2)) {
			d.fail("semaphore %q waiter count %d is out of range", s.name, nw)
		}
		if d.err == nil && nw > 0 && nh < limit {
			d.fail("semaphore %q has a free slot and waiters", s.name)
		}
		if d.err == nil && nh == 0 && nw == 0 {
			d.fail("semaphore %q is not live", s.name)
		}
		for j := uint64(0); j < nw && d.err == nil; j++ {
			w := waiter{pid: d.string("waiter", MaxPIDLen)}
			if d.err == nil {
				if err := validatePID("waiter", w.pid); err != nil {
					d.fail("%v", err)
				}
			}
			w.deadline = d.varint("deadline")
			w.value = value("waiter value")
			if d.err == nil && seen[w.pid] {
				d.fail("semaphore %q lists %s twice", s.name, w.pid)
			}
			seen[w.pid] = true
			s.waiters = append(s.waiters, w)
		}
		if d.err != nil {
			return
		}
		t.sems[s.name] = s
		for _, h := range s.holders {
			t.semLink(h.pid, s.name)
		}
		for _, w := range s.waiters {
			t.semLink(w.pid, s.name)
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
