package api

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/metadata"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// BenchmarkGuard is what the ACL check adds to every call: reading the
// token from the metadata, hashing it, finding it in the local replica and
// matching the rules, for a KV get, with ACLs off and on.
func BenchmarkGuard(b *testing.B) {
	c := testcluster.New(b, 1, testcluster.Options{Configure: func(_ int, cfg *config.Config) {
		cfg.ACL.Enabled, cfg.ACL.DefaultPolicy = true, "deny"
	}})
	n := c.WaitLeader(20 * time.Second)
	ctx := context.Background()
	if _, err := n.ACL().Bootstrap(ctx, 0); err != nil {
		b.Fatal(err)
	}
	rules := []acl.Rule{{Resource: acl.ResKV, Prefix: "app/", Access: acl.Read}}
	for i := 0; i < 20; i++ { // a policy of some size: 21 rules, the match near the end
		rules = append([]acl.Rule{{Resource: acl.ResLock, Prefix: "jobs/" + string(rune('a'+i)), Access: acl.Write}}, rules...)
	}
	if _, err := n.ACL().SetPolicy(ctx, acl.Policy{Name: "app", Rules: rules}, true); err != nil {
		b.Fatal(err)
	}
	tok, err := n.ACL().CreateToken(ctx, "bench", []string{"app"}, 0)
	if err != nil {
		b.Fatal(err)
	}
	req := &pb.GetRequest{Key: "app/config"}
	md := metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+tok.SecretID))
	for _, bc := range []struct {
		name string
		node ACLNode
	}{{"acl_off", nil}, {"acl_on", n.ACL()}} {
		g, err := newGuard(bc.node, n.Name, zerolog.Nop(), prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.authorize(md, pb.KV_Get_FullMethodName, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
