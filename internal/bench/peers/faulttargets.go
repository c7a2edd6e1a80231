package main

import (
	"context"

	"github.com/conclave-dev/conclave/api/client"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// faultSystem is a running system the fault schedule acts on. Only the
// schedule's goroutine calls it.
type faultSystem interface {
	stoppable
	// name is member m's process name (procs.start), also its cgroup's.
	name(m int) string
	// member is member m's process, nil while it is down (after kill).
	member(m int) *proc
	// startMember starts member m again on its data dir and ports, without
	// waiting for anything.
	startMember(m int) error
	// faultTargets connects what one client of the schedule talks to,
	// member m first: each target is tried in turn when one fails.
	faultTargets(m int) ([]faultTarget, error)
}

// faultTarget is one connection a client of the schedule calls through.
// A client's goroutine is its only caller, except close, called once that
// goroutine has ended.
type faultTarget interface {
	// read is a linearizable read of key and returns its version; a missing
	// key is an answer (version 0), not an error.
	read(ctx context.Context, key string) (uint64, error)
	// write puts value at key and returns its new version.
	write(ctx context.Context, key string, value []byte) (uint64, error)
	// cas writes value at key only if key is at version ver. A failed
	// comparison is an answer, not an error; it returns the version found,
	// or 0 if the answer does not say.
	cas(ctx context.Context, key string, value []byte, ver uint64) (uint64, error)
	// session opens a session (etcd: a lease kept alive; conclave: a
	// session stream to this target's agent); ctx bounds only the opening.
	session(ctx context.Context) (faultSession, error)
	close()
}

// faultSession is a peerSession that says when it has ended.
type faultSession interface {
	peerSession
	// done is closed once the session has ended (lease expired or lost,
	// stream cut): it will take no lock again.
	done() <-chan struct{}
}

func (e *etcdCluster) member(m int) *proc { return e.members[m] }

// faultTargets is one etcd client with every member's endpoint, member m's
// first: what an application with every address would configure. The
// client balances calls over the endpoints it is connected to (gRPC
// round_robin) and leaves a member whose connection broke.
func (e *etcdCluster) faultTargets(m int) ([]faultTarget, error) {
	var eps []string
	for i := range members {
		eps = append(eps, e.clients[(m+i)%members])
	}
	c, err := etcdClient(eps...)
	if err != nil {
		return nil, err
	}
	return []faultTarget{etcdTarget{c}}, nil
}

// etcdTarget is an etcd client; versions are mod revisions.
type etcdTarget struct{ c *clientv3.Client }

func (t etcdTarget) read(ctx context.Context, key string) (uint64, error) {
	resp, err := t.c.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return 0, err
	}
	return uint64(resp.Kvs[0].ModRevision), nil
}

func (t etcdTarget) write(ctx context.Context, key string, value []byte) (uint64, error) {
	resp, err := t.c.Put(ctx, key, string(value))
	if err != nil {
		return 0, err
	}
	return uint64(resp.Header.Revision), nil
}

func (t etcdTarget) cas(ctx context.Context, key string, value []byte, ver uint64) (uint64, error) {
	resp, err := t.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", int64(ver))).
		Then(clientv3.OpPut(key, string(value))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return 0, err
	}
	if resp.Succeeded {
		return uint64(resp.Header.Revision), nil
	}
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) == 1 {
		return uint64(kvs[0].ModRevision), nil
	}
	return 0, nil
}

func (t etcdTarget) session(ctx context.Context) (faultSession, error) {
	s, err := etcdConn{t.c}.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.(etcdSession), nil
}

func (t etcdTarget) close() { _ = t.c.Close() }

func (s etcdSession) done() <-chan struct{} { return s.s.Done() }

func (c *conclaveCluster) member(m int) *proc { return c.members[m] }

// faultTargets is one SDK client per agent, member m's first: the SDK
// talks to one agent, so an application with every address dials each
// and moves on when one fails. A session lives on one agent: moving
// means opening a new one.
func (c *conclaveCluster) faultTargets(m int) ([]faultTarget, error) {
	var out []faultTarget
	for i := range members {
		cl, err := client.New(c.grpc[(m+i)%members])
		if err != nil {
			for _, t := range out {
				t.close()
			}
			return nil, err
		}
		out = append(out, conclaveTarget{cl})
	}
	return out, nil
}

// conclaveTarget is an SDK client of one agent; versions are the KV's.
type conclaveTarget struct{ c *client.Client }

func (t conclaveTarget) read(ctx context.Context, key string) (uint64, error) {
	e, err := t.c.KV().Get(ctx, key, client.Consistent())
	if client.IsNotFound(err) {
		return 0, nil
	}
	return e.Version, err
}

func (t conclaveTarget) write(ctx context.Context, key string, value []byte) (uint64, error) {
	e, err := t.c.KV().Put(ctx, key, value)
	return e.Version, err
}

func (t conclaveTarget) cas(ctx context.Context, key string, value []byte, ver uint64) (uint64, error) {
	e, err := t.c.KV().CompareAndSet(ctx, key, value, ver)
	if client.IsVersionMismatch(err) {
		return 0, nil
	}
	return e.Version, err
}

func (t conclaveTarget) session(ctx context.Context) (faultSession, error) {
	s, err := conclaveConn{t.c}.session(ctx)
	if err != nil {
		return nil, err
	}
	return s.(conclaveSession), nil
}

func (t conclaveTarget) close() { _ = t.c.Close() }

func (s conclaveSession) done() <-chan struct{} { return s.s.Done() }
