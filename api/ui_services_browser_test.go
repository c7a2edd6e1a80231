package api_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conclave-dev/conclave/api/client"
)

// TestStatusPageShowsServices loads the status page of a node with
// registered instances: the services section lists each with its
// endpoint, node and health, and the check output of the critical one.
func TestStatusPageShowsServices(t *testing.T) {
	browser := findBrowser()
	if browser == "" {
		t.Skip("no Chromium found (apt-get install chromium, or set CONCLAVE_BROWSER): status page browser test skipped")
	}
	cl, base := serveRegistryNodeHTTP(t)
	sess, err := cl.Session(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.RegisterService(tctx(t), client.Registration{Service: "web", ID: "web-1", Endpoint: "10.0.0.7:80", Protocol: "http"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.RegisterService(tctx(t), client.Registration{Service: "jobs/worker", ID: "w-1", Endpoint: "10.0.0.8:9000",
		Checks: []client.Check{{Kind: client.CheckTTL, TTL: time.Minute}}}); err != nil {
		t.Fatal(err)
	}
	// Passing, then critical: the output kept is that of a change.
	for _, h := range []client.Health{client.HealthPassing, client.HealthCritical} {
		if err := sess.UpdateTTL(tctx(t), "jobs/worker", "w-1", h, "disk full"); err != nil {
			t.Fatal(err)
		}
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	ready := `(() => {
		const rows = [...document.querySelectorAll("#services-table tbody tr")];
		const w = document.querySelector('#services-table tr[data-id="w-1"]');
		return rows.map(r => r.dataset.service + "|" + r.dataset.id).sort().join(",") === "jobs/worker|w-1,web|web-1" &&
			w !== null && w.textContent.includes("critical");
	})()`
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/ui/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](ready,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text("body"))
		t.Fatalf("the status page never listed the instances: %v\npage text:\n%s", err, body)
	}
	text, err := chromedp.Run(ctx, chromedp.Text("#services"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10.0.0.7:80", "passing", "10.0.0.8:9000", "critical", "disk full", "http"} {
		if !strings.Contains(text, want) {
			t.Errorf("services section lacks %q:\n%s", want, text)
		}
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("CONCLAVE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "status-page-services.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("status page screenshot (%d bytes): %s", len(shot), path)
	crit, err := chromedp.Run(ctx, chromedp.AttributeValue(`#services-table tr[data-id="w-1"] .health`, "class"))
	if err != nil || !strings.Contains(crit.Value, "bad") {
		t.Errorf("the critical instance's health cell has class %q (%v), want bad", crit.Value, err)
	}
}
