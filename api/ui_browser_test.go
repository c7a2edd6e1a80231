package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conclave-dev/conclave/internal/testcluster"
	"github.com/conclave-dev/conclave/naming"
)

// findBrowser returns the path of a Chromium or Chrome binary, or "".
func findBrowser() string {
	if p := os.Getenv("CONCLAVE_BROWSER"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestStatusPageInBrowser loads /ui of a follower in headless Chromium and
// checks that the page shows every node, the leader and its term, and a
// registered name. The screenshot is kept
// (its path is logged).
func TestStatusPageInBrowser(t *testing.T) {
	browser := findBrowser()
	if browser == "" {
		t.Skip("no Chromium found (apt-get install chromium, or set CONCLAVE_BROWSER): status page browser test skipped")
	}
	oc := newOpsCluster(t, 3)
	leader := oc.WaitLeader(30 * time.Second)
	// A name to show: the names plane is served.
	sess, err := leader.OpenSession(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close(context.Background())
	if _, err := leader.Names().Register(context.Background(), sess.PID(), "ui/demo", naming.ScopeConsistent, []byte("10.0.0.9:80")); err != nil {
		t.Fatal(err)
	}
	// A semaphore slot and an election's leadership for their sections.
	if _, err := leader.Locks().SemAcquire(context.Background(), sess.PID(), "ui/sem", 3, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Locks().Campaign(context.Background(), sess.PID(), "ui/leader", "10.0.0.7:80"); err != nil {
		t.Fatal(err)
	}
	var page string
	var pageNode *testcluster.Node
	for _, n := range oc.Running() {
		base, _, _ := oc.serve(t, n)
		if n != leader && page == "" {
			page, pageNode = base+"/ui/", n
		}
	}
	// An eventual key written on the page's node for the Eventual KV
	// section: its size, clock and origin.
	if _, err := pageNode.EventualKV().Put(context.Background(), "ui/ekv", []byte("hello")); err != nil {
		t.Fatal(err)
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(browser),
			chromedp.NoSandbox, // CI runs as root
			chromedp.DisableGPU,
			chromedp.WindowSize(1200, 800),
		)...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	// Wait, in the page, until the table has every node, the leader is
	// shown and every node's health has been fetched.
	names := []string{}
	for _, n := range oc.Running() {
		names = append(names, n.Name)
	}
	ready := `(() => {
		const rows = [...document.querySelectorAll("#nodes tbody tr")];
		const names = rows.map(r => r.dataset.node).sort().join(",");
		const healthy = rows.filter(r => r.querySelector(".health").textContent.startsWith("ready")).length;
		return names === "` + strings.Join(names, ",") + `" && healthy === rows.length &&
			["` + strings.Join(names, `","`) + `"].includes(document.getElementById("leader").textContent) &&
			document.getElementById("names").textContent.includes("ui/demo") &&
			document.getElementById("semaphores").textContent.includes("ui/sem") &&
			document.getElementById("elections").textContent.includes("10.0.0.7:80") &&
			document.getElementById("ekv").textContent.includes("ui/ekv");
	})()`
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("navigate to %s: %v", page, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](ready,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text("body"))
		t.Fatalf("status page at %s never showed the cluster: %v\npage text:\n%s", page, err, body)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	// The page shows the current leader: compare with the cluster's, which
	// may have changed since WaitLeader on a loaded machine.
	var leaderText string
	testcluster.WaitFor(t, 20*time.Second, "the page to show the cluster's current leader", func() bool {
		leaderText = text("#leader")
		l := oc.Leader()
		return l != nil && l.Name == leaderText
	})
	termText, nodesText, namesText := text("#term"), text("#nodes"), text("#names")
	semText, electText := text("#semaphores"), text("#elections")
	if !strings.Contains(semText, sess.PID()) || !strings.Contains(electText, sess.PID()) {
		t.Errorf("semaphores section %q / elections section %q: want the holder and leader %s", semText, electText, sess.PID())
	}
	ekvStats, ekvText := text("#ekv-stats"), text("#ekv")
	for _, want := range []string{"5 B", pageNode.Name} {
		if !strings.Contains(ekvText, want) {
			t.Errorf("eventual KV section lacks %q:\n%s", want, ekvText)
		}
	}
	if !strings.Contains(ekvStats, "1 key, 0 tombstones") || !strings.Contains(ekvStats, "of 16.0 MiB") {
		t.Errorf("eventual KV size line = %q, want 1 key against the 16 MiB default bound", ekvStats)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: lossless PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("CONCLAVE_SCREENSHOT_DIR")
	if dir == "" {
		if dir, err = os.MkdirTemp("", "conclave-ui-"); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "status-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("status page screenshot (%d bytes): %s", len(shot), path)

	if termText == "" || termText == "0" || termText == "…" {
		t.Errorf("term shown %q", termText)
	}
	for _, n := range names {
		if !strings.Contains(nodesText, n) {
			t.Errorf("nodes table lacks %s:\n%s", n, nodesText)
		}
	}
	if !strings.Contains(nodesText, "voter") {
		t.Errorf("nodes table shows no roles:\n%s", nodesText)
	}
	if !strings.Contains(namesText, "ui/demo") || !strings.Contains(namesText, sess.PID()) {
		t.Errorf("names section = %q, want ui/demo held by %s", namesText, sess.PID())
	}
}
