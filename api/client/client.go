package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/internal/pki"
)

// Option configures a Client.
type Option func(*options)

type options struct {
	dialOpts []grpc.DialOption
	// tls and tlsFiles: at most one is set (see tls.go); neither means
	// plain text.
	tls      *tls.Config
	tlsFiles *pki.Files
	// token is the ACL secret sent with every call; "" sends none.
	token string
}

// WithDialOptions adds gRPC dial options, applied after the defaults (so
// they can, for example, replace the insecure transport credentials).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

// reconnect paces the connection's re-dials after the agent went away.
// grpc-go's default (1 s base, x1.6, up to 120 s) left an existing Client
// refusing calls for seconds after a restarted agent was serving again; an
// agent is one host on a LAN, so re-dialling it at most every 800 ms (plus
// 20 % jitter) costs little and brings the Client back within a second.
// A dial attempt gets at least MinConnectTimeout (a TLS handshake on a busy
// host included). WithDialOptions can replace it.
var reconnect = grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  100 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   800 * time.Millisecond,
	},
	MinConnectTimeout: 3 * time.Second,
}

// flowWindow is the HTTP/2 flow-control window of each stream and of the
// connection. Setting it turns off grpc-go's bandwidth estimation, which
// answers nearly every small response with a PING the agent must read and
// acknowledge: an extra write and wake-up on both sides of a call whose
// whole cost is a few hundred microseconds (four alternated runs: 8 % more
// lock cycles, 7 % more consistent reads, 6 % more 16-client puts per
// second; docs/benchmarks.md). 1 MiB is 16 times grpc-go's starting window
// and a quarter of the largest message.
const flowWindow = 1 << 20

// Client talks to one conclave agent.
type Client struct {
	conn     *grpc.ClientConn
	cluster  pb.ClusterClient
	kv       *KV
	sessions pb.SessionClient
	locks    *Locks
	sems     *Semaphores
	elect    *Elections
	names    *Names
	groups   *Groups
	keyring  *Keyring
	acl      *ACL
	registry *Registry
}

// New returns a Client for the agent at addr (host:port). It does not
// connect: the first call does, and fails with Unavailable if the agent is
// not reachable; after the agent went away it re-dials at most every
// 800 ms (plus jitter), so it is back within about a second of the agent
// serving again. It speaks plain text unless WithTLS or WithTLSFiles is
// given; a TLS mismatch (a plain client and a TLS agent, an unknown CA, a
// missing client certificate) also shows as Unavailable on the first call.
func New(addr string, opts ...Option) (*Client, error) {
	if addr == "" {
		return nil, errors.New("client: empty address")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tc, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if err := checkToken(o.token); err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds), grpc.WithConnectParams(reconnect),
		grpc.WithInitialWindowSize(flowWindow), grpc.WithInitialConnWindowSize(flowWindow),
	}
	if o.token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{header: "Bearer " + o.token}))
	}
	dial = append(dial, o.dialOpts...)
	conn, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", addr, err)
	}
	return &Client{
		conn:     conn,
		cluster:  pb.NewClusterClient(conn),
		kv:       &KV{c: pb.NewKVClient(conn)},
		sessions: pb.NewSessionClient(conn),
		locks:    &Locks{c: pb.NewLockClient(conn)},
		sems:     &Semaphores{c: pb.NewSemaphoreClient(conn)},
		elect:    &Elections{c: pb.NewElectionClient(conn)},
		names:    &Names{c: pb.NewNamesClient(conn)},
		groups:   &Groups{c: pb.NewGroupsClient(conn)},
		keyring:  &Keyring{c: pb.NewKeyringClient(conn)},
		acl:      &ACL{c: pb.NewACLClient(conn)},
		registry: &Registry{c: pb.NewRegistryClient(conn)},
	}, nil
}

// Close releases the connection. Calls in flight fail with Canceled, and
// open Sessions end (the agent then releases what they held).
func (c *Client) Close() error { return c.conn.Close() }

// KV returns the key-value API; it shares the Client's connection.
func (c *Client) KV() *KV { return c.kv }

// Locks returns the lock table's read API (and release on behalf of a
// PID); taking locks goes through a Session. It shares the Client's
// connection.
func (c *Client) Locks() *Locks { return c.locks }

// Semaphores returns the semaphores' read API (and release on behalf of a
// PID); taking slots goes through a Session.
func (c *Client) Semaphores() *Semaphores { return c.sems }

// Elections reads and observes elections; campaigning goes through a
// Session.
func (c *Client) Elections() *Elections { return c.elect }

// Names reads and watches cluster-wide names; Session.Register binds them.
func (c *Client) Names() *Names { return c.names }

// Registry queries and watches the service registry; Session.RegisterService
// registers instances, Resolver and Picker call them.
func (c *Client) Registry() *Registry { return c.registry }

// Keyring changes the gossip keyring of every live node through the agent.
func (c *Client) Keyring() *Keyring { return c.keyring }

// ACL manages the cluster's ACL policies and tokens (docs/acl.md).
func (c *Client) ACL() *ACL { return c.acl }

// Members lists every node the agent knows of, itself included.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	resp, err := c.cluster.Members(ctx, &pb.MembersRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(resp.GetMembers()))
	for _, m := range resp.GetMembers() {
		out = append(out, memberFromPB(m))
	}
	return out, nil
}

// RaftStatus returns the agent's view of the Raft core.
func (c *Client) RaftStatus(ctx context.Context) (RaftStatus, error) {
	resp, err := c.cluster.RaftStatus(ctx, &pb.RaftStatusRequest{})
	if err != nil {
		return RaftStatus{}, err
	}
	return raftStatusFromPB(resp.GetStatus()), nil
}

// Admit admits node to the Raft core (raft.admission: manual): the leader
// adds it once it has been alive for the stabilisation window. The admitted
// set is replicated, so the call may go to any agent of the cluster.
func (c *Client) Admit(ctx context.Context, node string) error {
	_, err := c.cluster.Admit(ctx, &pb.AdmitRequest{Node: node})
	return err
}

// Leave makes the agent leave the cluster and stop; it returns the name of
// the node that left.
func (c *Client) Leave(ctx context.Context) (string, error) {
	resp, err := c.cluster.Leave(ctx, &pb.LeaveRequest{})
	if err != nil {
		return "", err
	}
	return resp.GetNode(), nil
}
