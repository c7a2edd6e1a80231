package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// TestStatusPageAsksForAToken loads the status page of a node with ACLs on:
// without a token the page asks for one; with a dashboard token that may
// read the cluster and the locks but not the names or the KV it shows the
// nodes and says the names and the eventual KV are not readable.
func TestStatusPageAsksForAToken(t *testing.T) {
	browser := findBrowser()
	if browser == "" {
		t.Skip("no Chromium found (apt-get install chromium, or set CONCLAVE_BROWSER): status page browser test skipped")
	}
	c := testcluster.New(t, 1, testcluster.Options{Configure: func(_ int, cfg *config.Config) {
		cfg.ACL.Enabled, cfg.ACL.DefaultPolicy = true, "deny"
	}})
	n := c.WaitLeader(30 * time.Second)
	ctx := context.Background()
	if _, err := n.ACL().Bootstrap(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := n.ACL().SetPolicy(ctx, acl.Policy{Name: "dashboard", Rules: []acl.Rule{
		{Resource: acl.ResOperator, Prefix: acl.Everything, Access: acl.Read},
		{Resource: acl.ResLock, Prefix: acl.Everything, Access: acl.Read},
	}}, true); err != nil {
		t.Fatal(err)
	}
	tok, err := n.ACL().CreateToken(ctx, "dashboard", []string{"dashboard"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultLocalConfig()
	srv, err := api.New(cfg, api.ServicesOf(n.Node))
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	page := "http://" + srv.HTTPAddr().String() + "/ui/"

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer cancelAlloc()
	bctx, cancelB := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelB()
	bctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	poll := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Text("body"))
			t.Fatalf("status page never showed %s: %v\npage text:\n%s", what, err, body)
		}
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("navigate to %s: %v", page, err)
	}
	poll("the token form", `!document.getElementById("token-form").hidden &&
		document.getElementById("status-line").textContent.includes("ACLs are on")`)
	nodes, err := chromedp.Run(bctx, chromedp.Text("#nodes"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(nodes, n.Name) {
		t.Fatalf("without a token the page shows the nodes:\n%s", nodes)
	}
	if err := chromedp.Do(bctx, chromedp.SendKeys("#token", tok.SecretID), chromedp.Click("#token-form button")); err != nil {
		t.Fatal(err)
	}
	poll("the nodes with the dashboard token", `(() => {
		const rows = [...document.querySelectorAll("#nodes tbody tr")].map(r => r.dataset.node);
		return rows.includes("`+n.Name+`") &&
			document.getElementById("names").textContent.includes("not readable with this token") &&
			document.getElementById("ekv").textContent.includes("not readable with this token") &&
			!document.getElementById("status-line").textContent.includes("ACLs are on");
	})()`)
}
