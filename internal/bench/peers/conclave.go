package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/api/client"
)

// conclaveCluster is three conclave agents (bin/conclave agent) on
// 127.0.0.1, configured as deploy/local/nodeN.yaml but with free ports and
// data under the harness's temporary directory; every timing is the
// production default.
type conclaveCluster struct {
	ps      *procs
	bin     string
	dir     string
	grpc    []string         // each agent's gRPC address
	http    []string         // each agent's HTTP address (metrics)
	admin   []*client.Client // one per agent, for status polls
	members []*proc          // nil while an agent is down
}

// conclaveConfig is an agent's configuration file; see deploy/local.
const conclaveConfig = `cluster:
  enabled: true
  name: %[1]s
  data_dir: %[2]s
  membership:
    bind_addr: 127.0.0.1
    bind_port: %[3]d
    join_addrs: [%[4]s]
  internode:
    bind_addr: 127.0.0.1
    bind_port: %[5]d
  raft:
    bootstrap_expect: 3
api:
  grpc_addr: 127.0.0.1:%[6]d
  http_addr: 127.0.0.1:%[7]d
log:
  level: warn
  format: json
`

// startConclave writes three configurations under dir, starts the agents
// and waits until every one names the same leader, with three voters.
func startConclave(ctx context.Context, ps *procs, bin, dir string) (*conclaveCluster, error) {
	ports, err := freePorts(4 * members) // gossip, internode, gRPC, HTTP
	if err != nil {
		return nil, err
	}
	c := &conclaveCluster{ps: ps, bin: bin, dir: dir, members: make([]*proc, members)}
	var seeds []string
	for m := range members {
		seeds = append(seeds, fmt.Sprintf("%q", fmt.Sprintf("127.0.0.1:%d", ports[4*m])))
	}
	for m := range members {
		p := ports[4*m : 4*m+4]
		cfg := fmt.Sprintf(conclaveConfig, c.name(m), filepath.Join(dir, c.name(m)), p[0], strings.Join(seeds, ", "), p[1], p[2], p[3])
		if err := os.WriteFile(c.configPath(m), []byte(cfg), 0o600); err != nil {
			return nil, fmt.Errorf("%s: config: %w", c.name(m), err)
		}
		c.grpc = append(c.grpc, fmt.Sprintf("127.0.0.1:%d", p[2]))
		c.http = append(c.http, fmt.Sprintf("127.0.0.1:%d", p[3]))
	}
	for m := range members {
		cl, err := client.New(c.grpc[m])
		if err != nil {
			return nil, err
		}
		c.admin = append(c.admin, cl)
		if err := c.startMember(m); err != nil {
			return nil, err
		}
	}
	if _, err := c.leader(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// name is the agent's node name, which is also its Raft server ID.
func (c *conclaveCluster) name(m int) string { return fmt.Sprintf("node-%d", m+1) }

func (c *conclaveCluster) configPath(m int) string {
	return filepath.Join(c.dir, c.name(m)+".yaml")
}

func (c *conclaveCluster) startMember(m int) error {
	p, err := c.ps.start(c.name(m), filepath.Join(c.dir, c.name(m)+".log"), c.bin, "agent", "--config", c.configPath(m))
	if err != nil {
		return err
	}
	c.members[m] = p
	return nil
}

// stop kills every agent and closes the status clients.
func (c *conclaveCluster) stop() {
	for _, cl := range c.admin {
		_ = cl.Close()
	}
	for m, p := range c.members {
		if p != nil {
			p.kill()
			c.members[m] = nil
		}
	}
}

func (c *conclaveCluster) kill(m int) {
	c.members[m].kill()
	c.members[m] = nil
}

// restart starts agent m again and waits until all three name the same
// leader with three voters, and m has applied everything the leader had
// committed. Its status client is replaced, so that gRPC's reconnect
// backoff from the kill does not delay the wait.
func (c *conclaveCluster) restart(ctx context.Context, m int) error {
	_ = c.admin[m].Close()
	cl, err := client.New(c.grpc[m])
	if err != nil {
		return err
	}
	c.admin[m] = cl
	if err := c.startMember(m); err != nil {
		return err
	}
	l, err := c.leader(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	ls, err := c.admin[l].RaftStatus(sctx)
	cancel()
	if err != nil {
		return err
	}
	return waitFor(ctx, settleTimeout, c.name(m)+" catching up", func() (bool, error) {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := c.admin[m].RaftStatus(sctx)
		return err == nil && st.AppliedIndex >= ls.CommitIndex, nil
	})
}

// leader waits until every running agent names the same leader and that
// leader counts three voters, and returns it.
func (c *conclaveCluster) leader(ctx context.Context) (int, error) {
	leader := -1
	err := waitFor(ctx, settleTimeout, "a conclave leader all agents agree on, with 3 voters", func() (bool, error) {
		lead := ""
		for m, p := range c.members {
			if p == nil {
				continue
			}
			if p.exited() {
				return false, fmt.Errorf("%s exited:\n%s", c.name(m), p.tail(10))
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := c.admin[m].RaftStatus(sctx)
			cancel()
			if err != nil || st.LeaderID == "" || (lead != "" && st.LeaderID != lead) {
				return false, nil
			}
			lead = st.LeaderID
			if st.State == "leader" && voters(st) != members {
				return false, nil
			}
		}
		for m := range members {
			if c.name(m) == lead && c.members[m] != nil {
				leader = m
				return true, nil
			}
		}
		return false, nil
	})
	return leader, err
}

func voters(st client.RaftStatus) int {
	n := 0
	for _, s := range st.Servers {
		if s.Suffrage == "voter" {
			n++
		}
	}
	return n
}

func (c *conclaveCluster) dial(_ context.Context, m int) (peerClient, error) {
	cl, err := client.New(c.grpc[m])
	if err != nil {
		return nil, err
	}
	return conclaveConn{cl}, nil
}

// conclaveConn is one SDK client (its own gRPC connection).
type conclaveConn struct{ c *client.Client }

func (c conclaveConn) put(ctx context.Context, key string, value []byte) error {
	_, err := c.c.KV().Put(ctx, key, value)
	return err
}

// get is a consistent read: the leader confirms its leadership first.
func (c conclaveConn) get(ctx context.Context, key string) error {
	_, err := c.c.KV().Get(ctx, key, client.Consistent())
	return err
}

// session is an SDK session with the default TTL.
func (c conclaveConn) session(ctx context.Context) (peerSession, error) {
	s, err := c.c.Session(ctx)
	if err != nil {
		return nil, err
	}
	return conclaveSession{s}, nil
}

func (c conclaveConn) close() { _ = c.c.Close() }

// conclaveSession takes locks with Session.Lock (queueing with Wait) and
// creates keys as consistent names.
type conclaveSession struct{ s *client.Session }

func (s conclaveSession) lock(ctx context.Context, name string) (func(context.Context) error, error) {
	// The wait must end before ctx does, or a slow grant would show as a
	// cancelled call instead of an expired wait (as in internal/bench).
	wait := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl) / 2
	}
	l, err := s.s.Lock(ctx, name, client.Wait(wait))
	if err != nil {
		return nil, err
	}
	return l.Unlock, nil
}

func (s conclaveSession) create(ctx context.Context, key string) error {
	_, err := s.s.Register(ctx, key, client.ScopeConsistent, nil)
	return err
}

func (s conclaveSession) remove(ctx context.Context, key string) error {
	return s.s.Unregister(ctx, key)
}

func (s conclaveSession) close() { _ = s.s.Close() }
