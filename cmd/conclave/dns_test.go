package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/registry"
)

// oneInstance is a registry replica holding one passing instance of "api".
type oneInstance struct{}

func (oneInstance) Instances(f registry.Filter) ([]registry.Instance, uint64) {
	if f.Service != "api" {
		return nil, 1
	}
	return []registry.Instance{{Service: "api", ID: "a1", Endpoint: "10.0.0.9:8080", Health: registry.Passing}}, 1
}

// dnsFakeNode is a fake node that has a registry.
type dnsFakeNode struct{ *fakeNode }

func (dnsFakeNode) DNSRegistry() api.DNSRegistry { return oneInstance{} }

// dnsConfigFile writes an agent config with the DNS interface on an
// ephemeral loopback port.
func dnsConfigFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := "cluster:\n  membership:\n    bind_addr: 127.0.0.1\n    bind_port: 0\n" +
		"dns:\n  bind_addr: 127.0.0.1:0\n  ttl: 3s\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAgentServesDNS(t *testing.T) {
	node := dnsFakeNode{newFakeNode("dev")}
	logs := &syncBuffer{}
	e := env{
		lookup: func(string) (string, bool) { return "", false },
		newNode: func(config.Config, ...cluster.Option) (agentNode, api.Services, error) {
			return node, node.services(), nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	args := []string{"agent", "--dev", "--config", dnsConfigFile(t), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json"}
	go func() { exit <- run(ctx, args, e, strings.NewReader(""), &syncBuffer{}, logs) }()

	var dnsAddr string
	waitFor(t, 10*time.Second, func() bool {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				DNSAddr string `json:"dns_addr"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "agent started" {
				dnsAddr = line.DNSAddr
				return true
			}
		}
		return false
	})
	if dnsAddr == "" {
		t.Fatalf("startup line has no dns_addr:\n%s", logs.String())
	}
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("api.service.conclave.", dns.TypeSRV)
	r, _, err := c.Exchange(m, dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Port != 8080 || r.Answer[0].Header().Ttl != 3 {
		t.Fatalf("answer %v, want one SRV to port 8080 with TTL 3 (dns.ttl)", r.Answer)
	}

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit %d, logs:\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit")
	}
	// The agent's lifetime is the DNS interface's: its port is released.
	if conn, err := net.DialTimeout("tcp", dnsAddr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("DNS still listening on %s after the agent stopped", dnsAddr)
	}
}

func TestAgentDNSWithoutRegistry(t *testing.T) {
	node := newFakeNode("dev")
	var stderr syncBuffer
	e := env{
		lookup: func(string) (string, bool) { return "", false },
		newNode: func(config.Config, ...cluster.Option) (agentNode, api.Services, error) {
			return node, node.services(), nil
		},
	}
	args := []string{"agent", "--dev", "--config", dnsConfigFile(t), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-level", "error"}
	code := run(context.Background(), args, e, strings.NewReader(""), &syncBuffer{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "agent: dns: this node has no service registry") {
		t.Fatalf("exit %d, stderr %q; want 1 and the reason", code, stderr.String())
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.shutdowns != 1 {
		t.Fatalf("node shut down %d times after the failed start, want 1", node.shutdowns)
	}
}
