package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// etcdCluster is three etcd members (the etcdserver binary of this module)
// on 127.0.0.1, with etcd's default timings.
type etcdCluster struct {
	ps      *procs
	bin     string
	dir     string
	clients []string // each member's client URL
	peers   []string // each member's peer URL
	members []*proc  // nil while a member is down
	admin   *clientv3.Client
}

// startEtcd starts three members with their data under dir and waits
// until every one names the same leader.
func startEtcd(ctx context.Context, ps *procs, bin, dir string) (*etcdCluster, error) {
	ports, err := freePorts(2 * members)
	if err != nil {
		return nil, err
	}
	e := &etcdCluster{ps: ps, bin: bin, dir: dir, members: make([]*proc, members)}
	for m := range members {
		e.clients = append(e.clients, fmt.Sprintf("http://127.0.0.1:%d", ports[2*m]))
		e.peers = append(e.peers, fmt.Sprintf("http://127.0.0.1:%d", ports[2*m+1]))
	}
	for m := range members {
		if err := e.startMember(m); err != nil {
			return nil, err
		}
	}
	e.admin, err = etcdClient(e.clients...)
	if err != nil {
		return nil, err
	}
	if _, err := e.leader(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *etcdCluster) name(m int) string { return fmt.Sprintf("etcd-%d", m+1) }

func (e *etcdCluster) startMember(m int) error {
	var initial []string
	for i, u := range e.peers {
		initial = append(initial, e.name(i)+"="+u)
	}
	p, err := e.ps.start(e.name(m), filepath.Join(e.dir, e.name(m)+".log"), e.bin,
		"-name", e.name(m),
		"-data-dir", filepath.Join(e.dir, e.name(m)),
		"-client-url", e.clients[m],
		"-peer-url", e.peers[m],
		"-initial-cluster", strings.Join(initial, ","))
	if err != nil {
		return err
	}
	e.members[m] = p
	return nil
}

// stop kills every member and closes the admin client.
func (e *etcdCluster) stop() {
	if e.admin != nil {
		_ = e.admin.Close()
	}
	for m, p := range e.members {
		if p != nil {
			p.kill()
			e.members[m] = nil
		}
	}
}

func (e *etcdCluster) kill(m int) {
	e.members[m].kill()
	e.members[m] = nil
}

// restart starts member m again and waits until all three name the same
// leader and m has applied everything the leader had committed.
func (e *etcdCluster) restart(ctx context.Context, m int) error {
	if err := e.startMember(m); err != nil {
		return err
	}
	l, err := e.leader(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	ls, err := e.admin.Status(sctx, e.clients[l])
	cancel()
	if err != nil {
		return err
	}
	return waitFor(ctx, settleTimeout, e.name(m)+" catching up", func() (bool, error) {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := e.admin.Status(sctx, e.clients[m])
		return err == nil && st.RaftAppliedIndex >= ls.RaftIndex, nil
	})
}

// leader waits until every running member names the same leader, and
// returns it.
func (e *etcdCluster) leader(ctx context.Context) (int, error) {
	leader := -1
	err := waitFor(ctx, settleTimeout, "an etcd leader all members agree on", func() (bool, error) {
		ids := make([]uint64, members)
		var lead uint64
		for m, p := range e.members {
			if p == nil {
				continue
			}
			if p.exited() {
				return false, fmt.Errorf("%s exited:\n%s", e.name(m), p.tail(10))
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := e.admin.Status(sctx, e.clients[m])
			cancel()
			if err != nil || st.Leader == 0 || (lead != 0 && st.Leader != lead) {
				return false, nil
			}
			lead, ids[m] = st.Leader, st.Header.MemberId
		}
		for m, id := range ids {
			if id == lead && e.members[m] != nil {
				leader = m
				return true, nil
			}
		}
		return false, nil
	})
	return leader, err
}

func (e *etcdCluster) dial(_ context.Context, m int) (peerClient, error) {
	c, err := etcdClient(e.clients[m])
	if err != nil {
		return nil, err
	}
	return etcdConn{c}, nil
}

// etcdClient is etcd's Go client on endpoints, its logging off.
func etcdClient(endpoints ...string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return c, nil
}

// etcdConn is one etcd client.
type etcdConn struct{ c *clientv3.Client }

func (c etcdConn) put(ctx context.Context, key string, value []byte) error {
	_, err := c.c.Put(ctx, key, string(value))
	return err
}

// get is etcd's default read: linearizable.
func (c etcdConn) get(ctx context.Context, key string) error {
	resp, err := c.c.Get(ctx, key)
	if err == nil && len(resp.Kvs) != 1 {
		err = fmt.Errorf("get %s: %d keys", key, len(resp.Kvs))
	}
	return err
}

// session is a concurrency.Session: a lease with etcd's default TTL (60 s)
// that the client keeps alive.
func (c etcdConn) session(ctx context.Context) (peerSession, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The lease is granted under ctx; the session itself lives on the
	// client's context until close.
	resp, err := c.c.Grant(lctx, 60)
	if err != nil {
		return nil, err
	}
	s, err := concurrency.NewSession(c.c, concurrency.WithLease(resp.ID))
	if err != nil {
		return nil, err
	}
	return etcdSession{c: c.c, s: s}, nil
}

func (c etcdConn) close() { _ = c.c.Close() }

// etcdSession takes locks with concurrency.Mutex and creates keys with a
// txn on the key's create revision, attached to the session's lease.
type etcdSession struct {
	c *clientv3.Client
	s *concurrency.Session
}

func (s etcdSession) lock(ctx context.Context, name string) (func(context.Context) error, error) {
	mu := concurrency.NewMutex(s.s, name)
	if err := mu.Lock(ctx); err != nil {
		return nil, err
	}
	return mu.Unlock, nil
}

func (s etcdSession) create(ctx context.Context, key string) error {
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, "", clientv3.WithLease(s.s.Lease()))).
		Commit()
	if err == nil && !resp.Succeeded {
		err = errors.New("create " + key + ": exists")
	}
	return err
}

func (s etcdSession) remove(ctx context.Context, key string) error {
	resp, err := s.c.Delete(ctx, key)
	if err == nil && resp.Deleted != 1 {
		err = fmt.Errorf("delete %s: deleted %d", key, resp.Deleted)
	}
	return err
}

func (s etcdSession) close() { _ = s.s.Close() }
