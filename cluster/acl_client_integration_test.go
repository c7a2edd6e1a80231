package cluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// A client node holds no replica of the ACL table: it resolves tokens
// through a server, and a deleted token stops working there within the
// cache's TTL.
func TestClientNodeResolvesTokensThroughAServer(t *testing.T) {
	c := testcluster.New(t, 4, testcluster.Options{Configure: func(i int, cfg *config.Config) {
		cfg.ACL.Enabled, cfg.ACL.DefaultPolicy = true, "deny"
		if i == 3 {
			cfg.Cluster.Raft.Role = "client"
		}
	}})
	leader := c.WaitLeader(20 * time.Second)
	client := c.Nodes()[3]
	testcluster.WaitFor(t, 20*time.Second, client.Name+" knowing the leader", func() bool {
		return client.RaftStatus().LeaderID != ""
	})
	if st := client.RaftStatus().State; st != "client" {
		t.Fatalf("%s is a %s; want a client", client.Name, st)
	}
	ctx := ctxT(t)
	if _, err := leader.ACL().SetPolicy(ctx, acl.Policy{Name: "jobs", Rules: []acl.Rule{
		{Resource: acl.ResLock, Prefix: "jobs/", Access: acl.Write}}}, true); err != nil {
		t.Fatal(err)
	}
	tok, err := leader.ACL().CreateToken(ctx, "jobs", []string{"jobs"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.ACL().Resolve(tok.SecretID)
	if err != nil {
		t.Fatalf("resolve on the client node: %v", err)
	}
	if a.AccessorID != tok.AccessorID || !a.Allowed(acl.ResLock, "jobs/x", acl.Write) || a.Allowed(acl.ResKV, "x", acl.Read) {
		t.Fatalf("client resolved %+v; want the jobs token's rules", a)
	}
	if !client.ACL().Valid(tok.AccessorID) {
		t.Fatal("the token is not valid on the client node")
	}
	if err := leader.ACL().DeleteToken(ctx, tok.AccessorID); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	testcluster.WaitFor(t, 10*time.Second, "the deleted token refused on the client node", func() bool {
		_, err := client.ACL().Resolve(tok.SecretID)
		return errors.Is(err, acl.ErrUnauthenticated) && !client.ACL().Valid(tok.AccessorID)
	})
	t.Logf("the client node refused the deleted token %s after the delete", time.Since(deleted).Round(time.Millisecond))
}
