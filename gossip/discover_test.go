package gossip

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
)

// writeInventory replaces the inventory file at path with lines.
func writeInventory(t *testing.T, path string, lines ...string) {
	t.Helper()
	// Write beside and rename, as an operator's tooling should: a reader
	// never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestInventoryFileEditedJoinsNewAddress(t *testing.T) {
	a := startNode(t, "a", nodeOpt{})
	b := startNode(t, "b", nodeOpt{}) // a and b do not know each other
	path := filepath.Join(t.TempDir(), "inventory")
	writeInventory(t, path, "# the seeds", a.LocalAddr()+"  # first node", "")
	c := startNode(t, "c", nodeOpt{cfg: func(c *Config) {
		c.DiscoverFile = path
		c.DiscoverInterval = 100 * time.Millisecond
	}})
	run(t, c)
	waitFor(t, converge, "c joins a from the file", func() bool { return sees(c, "a", StateAlive) && sees(a, "c", StateAlive) })
	if _, ok := c.Member("b"); ok {
		t.Fatal("c knows b before the file names it")
	}

	writeInventory(t, path, a.LocalAddr(), b.LocalAddr())
	// Within the interval (plus a join): c contacts b, and b's arrival
	// spreads to a.
	waitFor(t, converge, "c joins b after the edit", func() bool { return sees(c, "b", StateAlive) && sees(b, "c", StateAlive) })
	waitFor(t, converge, "a learns b", func() bool { return sees(a, "b", StateAlive) })
	if got := c.inv.targets(); !slices.Equal(got, sortedStrings(a.LocalAddr(), b.LocalAddr())) {
		t.Errorf("inventory %v, want a and b", got)
	}
	if st := c.Stats(); st.InventoryErrors != 0 || st.RejectedInventory != 0 {
		t.Errorf("stats %+v, want no inventory errors or refusals", st)
	}
}

func sortedStrings(s ...string) []string { slices.Sort(s); return s }

func TestAllowOnlyInventoryRefusesStrangers(t *testing.T) {
	b := startNode(t, "b", nodeOpt{})
	path := filepath.Join(t.TempDir(), "inventory")
	writeInventory(t, path, b.LocalAddr())
	var logs syncBuffer
	a := startNode(t, "a", nodeOpt{
		cfg: func(c *Config) {
			c.DiscoverFile, c.AllowOnlyInventory = path, true
			c.DiscoverInterval = 100 * time.Millisecond
		},
		opts: []Option{WithLogger(zerolog.New(&logs))},
	})
	run(t, a)
	waitFor(t, converge, "a and b joined through the inventory", func() bool {
		return sees(a, "b", StateAlive) && sees(b, "a", StateAlive)
	})

	// a's own alive messages (a meta update) pass its allow-list, though
	// the inventory does not list a: the node itself is always allowed.
	a.SetClusterID("c1")
	waitFor(t, converge, "b sees a's new meta", func() bool {
		mem, ok := b.Member("a")
		return ok && mem.Meta.ClusterID == "c1"
	})
	if mem, _ := a.Member("a"); mem.Meta.ClusterID != "c1" {
		t.Fatalf("a's view of itself %+v, want cluster id c1", mem)
	}

	// x is not in a's inventory: whatever x says about itself, a refuses it.
	x := startNode(t, "x", nodeOpt{})
	_, _ = x.Join(joinCtx(t), []string{a.LocalAddr()}) // x may think it joined: a decides
	waitFor(t, converge, "a counts the refusal", func() bool { return a.Stats().RejectedInventory > 0 })
	if _, ok := a.Member("x"); ok {
		t.Fatalf("a lets x into its view: %v", a.Members())
	}
	if !strings.Contains(logs.String(), `"peer":"x"`) || !strings.Contains(logs.String(), "refusing peer not in the inventory") {
		t.Errorf("no warning naming x:\n%s", logs.String())
	}
	// Once the inventory names x, x is let in: the check is against the
	// current inventory.
	writeInventory(t, path, b.LocalAddr(), x.LocalAddr())
	waitFor(t, converge, "a admits x once listed", func() bool {
		_, _ = x.Join(joinCtx(t), []string{a.LocalAddr()})
		return sees(a, "x", StateAlive)
	})
}

// testDNS serves name -> records on 127.0.0.1 UDP until the test ends and
// returns a resolver that asks it.
func testDNS(t *testing.T, records map[string][]dns.RR) Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(r)
		q := r.Question[0]
		found := false
		for _, rr := range records[strings.ToLower(q.Name)] {
			found = true
			if rr.Header().Rrtype == q.Qtype {
				resp.Answer = append(resp.Answer, rr)
			}
		}
		if !found {
			resp.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(resp)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan error, 1)
	go func() { done <- srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func TestInventoryDNS(t *testing.T) {
	a := startNode(t, "a", nodeOpt{})
	b := startNode(t, "b", nodeOpt{})
	_, aPort, _ := net.SplitHostPort(a.LocalAddr())
	_, bPort, _ := net.SplitHostPort(b.LocalAddr())
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The SRV record points at b's port; the name's A record at 127.0.0.1
	// means "at my gossip port", which is c's own address (skipped).
	res := testDNS(t, map[string][]dns.RR{
		"gossip.test.": {rr("gossip.test. 0 IN SRV 1 1 " + bPort + " node-b.test."), rr("gossip.test. 0 IN A 127.0.0.1")},
		"node-b.test.": {rr("node-b.test. 0 IN A 127.0.0.1")},
	})
	c := startNode(t, "c", nodeOpt{
		cfg: func(c *Config) {
			c.DiscoverDNS = "gossip.test."
			c.DiscoverInterval = 100 * time.Millisecond
			c.AllowOnlyInventory = true
		},
		opts: []Option{WithResolver(res)},
	})
	run(t, c)
	waitFor(t, converge, "c joins b from its SRV record", func() bool { return sees(c, "b", StateAlive) })
	want := sortedStrings(b.LocalAddr(), c.LocalAddr())
	if got := c.inv.targets(); !slices.Equal(got, want) {
		t.Errorf("inventory %v, want %v (SRV at b's port, A at c's own gossip port)", got, want)
	}
	// a is not in DNS: c refuses it, even though b knows it.
	if _, err := a.Join(joinCtx(t), []string{b.LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, converge, "c refuses a", func() bool { return c.Stats().RejectedInventory > 0 })
	if _, ok := c.Member("a"); ok {
		t.Errorf("c admitted a (port %s), which DNS does not list", aPort)
	}
}

func TestParseInventory(t *testing.T) {
	data := "# inventory\n\n10.0.0.1\n10.0.0.2:8000 # with port\n  node-3.example  \nfd00::1\n[fd00::2]:7000\nbad host\nn:0\nn:x\n[::1\n"
	got, problems := parseInventory([]byte(data), 7946)
	want := []hostPort{{"10.0.0.1", 7946}, {"10.0.0.2", 8000}, {"node-3.example", 7946}, {"fd00::1", 7946}, {"fd00::2", 7000}}
	if !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	if len(problems) != 4 || !strings.HasPrefix(problems[0], "line 8: ") || !strings.HasPrefix(problems[3], "line 11: ") {
		t.Errorf("problems %q, want lines 8-11 named", problems)
	}
}

func TestInventoryFileChangeDetection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv")
	if err := os.WriteFile(path, []byte("10.0.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sig, _, changed, err := readInventoryFile(path, fileSig{})
	if err != nil || !changed {
		t.Fatalf("first read: changed %v, %v", changed, err)
	}
	if _, _, changed, _ := readInventoryFile(path, sig); changed {
		t.Error("unchanged file reported changed")
	}
	// Same size, same mtime, other content: the hash tells.
	if err := os.WriteFile(path, []byte("10.0.0.2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, sig.mod, sig.mod); err != nil {
		t.Fatal(err)
	}
	sig2, data, changed, err := readInventoryFile(path, sig)
	if err != nil || !changed || string(data) != "10.0.0.2\n" || sig2.size != sig.size || !sig2.mod.Equal(sig.mod) {
		t.Errorf("edit in place: changed %v data %q err %v", changed, data, err)
	}
	if _, _, _, err := readInventoryFile(filepath.Join(t.TempDir(), "missing"), sig); err == nil {
		t.Error("missing file read without error")
	}
	big := make([]byte, maxInventoryFile+1)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := readInventoryFile(path, sig); err == nil {
		t.Error("oversize file accepted")
	}
}

// stallingResolver blocks every lookup until its ctx ends.
type stallingResolver struct{ calls chan struct{} }

func (s stallingResolver) LookupHost(ctx context.Context, _ string) ([]string, error) {
	s.calls <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s stallingResolver) LookupSRV(ctx context.Context, _, _, _ string) (string, []*net.SRV, error) {
	s.calls <- struct{}{}
	<-ctx.Done()
	return "", nil, ctx.Err()
}

// TestShutdownCancelsInventoryLookups: a resolver that never answers does
// not hold Shutdown for the lookup timeout.
func TestShutdownCancelsInventoryLookups(t *testing.T) {
	res := stallingResolver{calls: make(chan struct{}, 8)}
	m := startNode(t, "a", nodeOpt{
		cfg:  func(c *Config) { c.DiscoverDNS = "gossip.test." },
		opts: []Option{WithResolver(res)},
	})
	errCh := make(chan error, 1)
	go func() { errCh <- m.Run(context.Background()) }()
	select {
	case <-res.calls:
	case <-time.After(converge):
		t.Fatal("Run did not look the inventory up")
	}
	start := time.Now()
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := <-errCh; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took >= lookupTimeout {
		t.Fatalf("Shutdown took %s, waiting out the lookup (%s)", took, lookupTimeout)
	}
	if m.Stats().InventoryErrors == 0 {
		t.Error("the cancelled lookup was not counted as an inventory error")
	}
}
