package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2EDiscoveryFromInventory runs real agents: "disc" has no seeds, only
// an inventory file (missing at its start) and allow_only_inventory. Once
// the file names node-1, disc joins it within the interval; node-2, which
// joined node-1 by join_addrs and is not in the file, stays out of disc's
// view and is counted as refused in disc's /metrics.
func TestE2EDiscoveryFromInventory(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs three agents")
	}
	bin := e2eBuild(t)
	c := newE2EClusterWith(t, bin, 2, func(name, yaml string) string {
		if name == "node-1" {
			return strings.Replace(yaml, "bootstrap_expect: 3", "bootstrap_expect: 1", 1)
		}
		return strings.Replace(yaml, "bootstrap_expect: 3", "bootstrap_expect: 0", 1)
	})
	inventory := filepath.Join(t.TempDir(), "inventory")
	d := newE2EClusterWith(t, bin, 1, func(_, yaml string) string {
		yaml = strings.Replace(yaml, "name: node-1\n", "name: disc\n", 1)
		yaml = strings.Replace(yaml, "bootstrap_expect: 3", "bootstrap_expect: 0", 1)
		return strings.Replace(yaml, "    join_addrs: []\n", "    join_addrs: []\n    discover:\n      file: "+inventory+
			"\n      interval: 1s\n    allow_only_inventory: true\n", 1)
	})
	disc := d.nodes[0]

	c.start(c.nodes[0])
	d.start(disc) // no seed and no inventory file yet: alone
	c.start(c.nodes[1])

	members := func(nd *e2eNode) (map[string]string, string) {
		r := c.run("members", "-o", "json", "--addr", nd.grpcAddr, "--timeout", e2eCallTimeout)
		if r.code != 0 {
			return nil, strings.TrimSpace(r.stderr)
		}
		var ms []struct{ Name, State string }
		if err := json.Unmarshal([]byte(r.stdout), &ms); err != nil {
			return nil, fmt.Sprintf("bad json: %v", err)
		}
		out := map[string]string{}
		for _, m := range ms {
			out[m.Name] = m.State
		}
		return out, fmt.Sprint(out)
	}
	start := time.Now()
	e2eWait(t, start, 15*time.Second, "node-1 and node-2 see each other", func() (bool, string) {
		ms, last := members(c.nodes[0])
		return ms["node-2"] == "alive", last
	})
	// disc is no Raft member, so it answers `members` only slowly (that
	// asks the core): its own view is read from its /metrics.
	metric := func(nd *e2eNode, series string) (float64, string) {
		resp, err := http.Get("http://" + nd.httpAddr + "/metrics")
		if err != nil {
			return -1, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`).FindSubmatch(body)
		if m == nil {
			return -1, "no " + series
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v, series + " " + string(m[1])
	}
	const alive = `conclave_gossip_members{state="alive"}`
	if v, last := metric(disc, alive); v != 1 {
		t.Fatalf("disc before its inventory exists: %s, want 1 (itself)", last)
	}

	// The file appears (written beside and renamed over, as docs/discovery.md
	// asks), naming node-1 only.
	tmp := inventory + ".tmp"
	if err := os.WriteFile(tmp, []byte("# seeds\n"+c.nodes[0].gossipAddr+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, inventory); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	took := e2eWait(t, written, 10*time.Second, "disc joins node-1 from the inventory", func() (bool, string) {
		ms, last := members(c.nodes[0])
		return ms["disc"] == "alive", last
	})
	t.Logf("node-1 saw disc %s after the inventory file was written (interval 1s)", took.Round(time.Millisecond))

	// node-1 gossips node-2 to disc, which refuses it: counted, never in
	// its view, while node-1 sees all three.
	e2eWait(t, written, 15*time.Second, "disc refuses node-2", func() (bool, string) {
		v, last := metric(disc, "conclave_gossip_rejected_inventory_total")
		return v > 0, last
	})
	if v, last := metric(disc, "conclave_gossip_inventory_addresses"); v != 1 {
		t.Errorf("disc: %s, want 1 (node-1)", last)
	}
	if v, last := metric(disc, alive); v != 2 {
		t.Fatalf("disc: %s, want 2 (itself and node-1; node-2 refused)", last)
	}
	if ms, last := members(c.nodes[0]); len(ms) != 3 {
		t.Errorf("node-1 sees %s, want node-1, node-2 and disc", last)
	}
}
