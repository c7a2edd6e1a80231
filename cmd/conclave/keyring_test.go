package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// keyringCLI serves node n of a real cluster and returns a cli pointed at it.
func keyringCLI(t *testing.T, n *testcluster.Node) *cli {
	t.Helper()
	srv, err := api.New(api.DefaultLocalConfig(), api.ServicesOf(n.Node))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &cli{t: t, addr: srv.GRPCAddr().String()}
}

// TestKeyringCommands rotates the key of a real three-node cluster with the
// CLI, then checks that bad input fails with one line naming the field.
func TestKeyringCommands(t *testing.T) {
	oldKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	tc := testcluster.New(t, 3, testcluster.Options{GossipKey: oldKey})
	tc.WaitLeader(20 * time.Second)
	c := keyringCLI(t, tc.Nodes()[0])
	testcluster.WaitFor(t, 10*time.Second, "3 nodes in the keyring list", func() bool {
		code, out, _ := c.run("", "keyring", "list")
		return code == 0 && strings.Contains(out, oldKey+"  1") && strings.Contains(out, "3/3")
	})

	newKey := strings.TrimSpace(c.ok("", "keyring", "generate"))
	if k, err := base64.StdEncoding.DecodeString(newKey); err != nil || len(k) != 32 {
		t.Fatalf("generate printed %q: %d bytes, %v", newKey, len(k), err)
	}
	if again := strings.TrimSpace(c.ok("", "keyring", "generate")); again == newKey {
		t.Fatal("generate printed the same key twice")
	}

	out := c.ok("", "keyring", "install", newKey)
	if strings.Count(out, " ok\n") != 3 || !strings.HasPrefix(out, "NODE") {
		t.Fatalf("install output = %q", out)
	}
	out = c.ok("", "keyring", "list")
	if !strings.Contains(out, newKey+"  3/3        0/3") || !strings.Contains(out, oldKey+"  3/3        3/3") {
		t.Fatalf("list after install = %q", out)
	}
	c.ok(newKey+"\n", "keyring", "use", "-") // the key from stdin
	var res keyringJSON
	if err := json.Unmarshal([]byte(c.ok("", "keyring", "remove", oldKey, "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Op != "remove" || res.Total != 3 || res.Failed != 0 || len(res.Nodes) != 3 || !res.Nodes[0].OK ||
		res.Nodes[0].Primary != newKey || len(res.Nodes[0].Keys) != 1 {
		t.Fatalf("remove json = %+v", res)
	}

	tests := map[string]struct {
		args []string
		want string
	}{
		"bad base64":     {[]string{"keyring", "install", "not!base64"}, "keyring install: InvalidArgument: "},
		"wrong length":   {[]string{"keyring", "install", base64.StdEncoding.EncodeToString([]byte("0123456789"))}, "key: 10 bytes after base64 decoding"},
		"remove primary": {[]string{"keyring", "remove", newKey}, "keyring remove: FailedPrecondition: keyring operation refused: key: it is the primary key of node n1"},
		"use unknown":    {[]string{"keyring", "use", oldKey}, "FailedPrecondition: keyring operation refused: key: not installed on node n1"},
		"no key":         {[]string{"keyring", "install"}, "keyring install: missing KEY"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c.t = t
			if msg := c.fails(tc.args...); !strings.Contains(msg, tc.want) {
				t.Fatalf("stderr %q, want it to contain %q", msg, tc.want)
			}
		})
	}
	c.t = t
	if out := c.ok("", "keyring", "list", "-o", "json"); !strings.Contains(out, `"primary_on": 3`) || strings.Contains(out, oldKey) {
		t.Fatalf("refused commands changed the keyring: %s", out)
	}
}
