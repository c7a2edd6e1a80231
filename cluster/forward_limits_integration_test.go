package cluster_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/internal/pki"
	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/internode"
)

// forwardPut is a KV put as a peer forwards it to the leader, written out
// byte by byte as an attacker would: the forward header (version 1, op
// apply) and the command (version 1, table KV, op put, key, value).
func forwardPut(key string, value []byte) []byte {
	b := []byte{1, 1, 1, 1, 1}
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// A peer that speaks the forward protocol to the leader, even one holding a
// valid node certificate of the cluster CA (a compromised or buggy node),
// cannot write a value over the API's limit, nor under the reserved _sys/
// prefix: the leader screens the command with the API's limits before it
// proposes it, answers InvalidArgument, and nothing changes. (A peer without
// a certificate does not get that far: mesh_tls_integration_test.go.)
func TestForwardedCommandsObeyTheAPILimits(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitLeader(20 * time.Second)

	src, err := pki.Load(c.IssueCert(pki.CertRequest{Node: "n9"}))
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := internode.New(internode.DefaultLocalConfig(), internode.WithTLS(internode.TLS{
		Node: "n9", Certs: src,
		Resolve: func(addr string) (string, error) {
			for _, n := range c.Running() {
				if n.InternodeAddr() == addr {
					return n.Name, nil
				}
			}
			return "", errors.New("unknown address")
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = attacker.Close() })

	send := func(key string, value []byte) []byte {
		t.Helper()
		for {
			l := c.WaitLeader(10 * time.Second)
			reply, err := attacker.Request(ctxT(t), l.InternodeAddr(), internode.ClassForward, forwardPut(key, value))
			if err != nil {
				t.Fatalf("forward %q: %v", key, err)
			}
			if len(reply) > 0 && reply[0] == 1 { // not the leader any more: ask the new one
				continue
			}
			if len(reply) < 2 || reply[0] != 0 {
				t.Fatalf("forward %q: reply %q", key, reply)
			}
			return reply[1:]
		}
	}
	// The attacker's client speaks the protocol: a legal write goes through.
	if r := send("legal", []byte("v")); r[0] != 0 {
		t.Fatalf("legal forwarded put refused: %q", r)
	}
	if _, err := leader.KV().Get(ctxT(t), "legal", cluster.ReadConsistent); err != nil {
		t.Fatalf("legal forwarded put not applied: %v", err)
	}
	for name, tc := range map[string]struct {
		key   string
		value []byte
		want  string
	}{
		"3 MB value":      {"big", make([]byte, 3<<20), "the limit is"},
		"under _sys/":     {"_sys/owned", []byte("x"), `the prefix "_sys" is reserved`},
		"3 MB under _sys": {"_sys/big", make([]byte, 3<<20), "the limit is"},
	} {
		t.Run(name, func(t *testing.T) {
			before := c.WaitLeader(10 * time.Second).RaftStatus().LastIndex
			r := send(tc.key, tc.value)
			const resInvalid = 3
			if r[0] != resInvalid || !strings.Contains(string(r), tc.want) {
				t.Fatalf("reply %q, want invalid with %q", r[:min(len(r), 200)], tc.want)
			}
			after := c.WaitLeader(10 * time.Second).RaftStatus().LastIndex
			for _, n := range c.Running() {
				if _, err := n.KV().Get(ctxT(t), tc.key, cluster.ReadStale); !errors.Is(err, cluster.ErrNotFound) && n.RaftStatus().State != "client" {
					t.Fatalf("%s: key %q: %v, want not found", n.Name, tc.key, err)
				}
			}
			if _, err := leader.KV().Get(ctxT(t), tc.key, cluster.ReadConsistent); !errors.Is(err, cluster.ErrNotFound) {
				t.Fatalf("key %q: %v, want not found", tc.key, err)
			}
			t.Logf("leader last index %d before, %d after", before, after)
		})
	}
}
