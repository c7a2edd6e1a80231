package cluster

import (
	"github.com/conclave-dev/conclave/raftcore"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/kv"
	"github.com/conclave-dev/conclave/locks"
	"github.com/conclave-dev/conclave/naming"
	"github.com/conclave-dev/conclave/registry"
)

// The KV table's op and query numbers as they are on the wire (package kv
// keeps them unexported; the tests here pin the bytes).
const (
	cmdVersion = wire.CommandVersion
	tableKV    = kv.TableID
	kvPut      = 1
	kvCAS      = 2
	kvDelete   = 3
	kvGet      = 1
	kvList     = 2

	// The lock table's (package locks keeps them unexported).
	tableLocks       = locks.TableID
	lkAcquire        = 1
	lkRelease        = 2
	lkReleaseSession = 3 // the envelope's release commands (package session's)
	lkReleaseNode    = 4
	lkTick           = 5
	lkGet            = 1
	lkList           = 2

	resOK       = byte(wire.OK)
	resNotFound = byte(wire.NotFound)
	resMismatch = byte(wire.Mismatch)
	resInvalid  = byte(wire.Invalid)

	maxCommandBytes = kv.MaxCommandBytes

	tableAdmission = raftcore.AdmissionTableID
	adAdmit        = 1

	// The name table's numbers (package naming keeps its ops unexported;
	// the tests here pin the bytes).
	tableNames   = naming.TableID
	nmRegister   = 1
	nmReserve    = 2
	nmActivate   = 3
	nmCancel     = 4
	nmUnregister = 5
	nmGet        = 1
	nmList       = 2
	resTaken     = naming.CodeTaken

	// The registry table's (package registry keeps them unexported).
	tableRegistry = registry.TableID
	rgRegister    = 1
	rgDeregister  = 2
	rgSetHealth   = 3
	rgLastSeen    = 4
	rgInstances   = 1
	rgServices    = 2
	resRegTaken   = registry.CodeTaken
)

var errShort = wire.ErrMalformed

// testTables is an FSM with every table of a node registered, and the
// tables themselves.
type testTables struct {
	*fsm
	kv        *kv.Replicated
	locks     *locks.Replicated
	names     *naming.Table
	admission *raftcore.Admissions
	registry  *registry.Table
}

func newTestFSM() testTables {
	t := testTables{fsm: newFSM(zerolog.Nop()), kv: kv.NewReplicated(), locks: locks.NewReplicated(nil),
		names: naming.NewTable(nil), admission: raftcore.NewAdmissions(), registry: registry.NewTable()}
	if err := t.register(kv.TableID, t.kv); err != nil {
		panic(err)
	}
	_ = t.register(tableLocks, t.locks)
	_ = t.register(tableNames, t.names)
	_ = t.register(tableAdmission, t.admission)
	_ = t.register(tableRegistry, t.registry)
	return t
}

// resultErr decodes a refusal as a proposer does.
func resultErr(r []byte) error {
	if _, refused := wire.ParseResult(r); refused != nil {
		return refused
	}
	return nil
}
