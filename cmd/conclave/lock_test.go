package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/cluster"
)

// fakeSignals hands the command's signal channel to the test.
type fakeSignals struct {
	once  sync.Once
	ready chan struct{}
	c     chan<- os.Signal
}

func newFakeSignals() *fakeSignals { return &fakeSignals{ready: make(chan struct{})} }

func (s *fakeSignals) notify(c chan<- os.Signal) func() {
	s.once.Do(func() {
		s.c = c
		close(s.ready)
	})
	return func() {}
}

func (s *fakeSignals) send(t *testing.T, sig os.Signal) {
	t.Helper()
	select {
	case <-s.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the command never asked for signals")
	}
	s.c <- sig
}

// running is a command started in the background.
type running struct {
	out, errOut syncBuffer
	done        chan int
}

// start runs args in the background with signals from sigs.
func (c *cli) start(sigs *fakeSignals, stdin string, args ...string) *running {
	r := &running{done: make(chan int, 1)}
	e := env{
		lookup: func(k string) (string, bool) {
			if k == "CONCLAVE_ADDR" {
				return c.addr, true
			}
			return "", false
		},
		signals: sigs.notify,
	}
	go func() {
		r.done <- run(context.Background(), args, e, strings.NewReader(stdin), &r.out, &r.errOut)
	}()
	c.t.Cleanup(func() {
		select {
		case <-r.done:
		case <-time.After(20 * time.Second):
			c.t.Error("command still running at the end of the test")
		}
	})
	return r
}

func (r *running) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.done:
		r.done <- code // later waits see it too
		return code
	case <-time.After(20 * time.Second):
		t.Fatalf("command did not exit; stdout %q stderr %q", r.out.String(), r.errOut.String())
		return -1
	}
}

// holdWithSDK opens a session on the CLI's agent and takes name.
func holdWithSDK(t *testing.T, c *cli, name string) (*client.Session, *client.Lock) {
	t.Helper()
	cl, err := client.New(c.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := cl.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	l, err := sess.Lock(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return sess, l
}

func oneErrLine(t *testing.T, stderr string) string {
	t.Helper()
	if !strings.HasPrefix(stderr, "conclave: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Fatalf("stderr %q, want exactly one line `conclave: ...`", stderr)
	}
	return strings.TrimSuffix(stderr, "\n")
}

func TestLockAcquireHoldReleases(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "lock", "acquire", "jobs/x", "--hold", "1ms", "--ttl", "5s", "--lock-delay", "1s")
	if out != "acquired jobs/x token 101 pid n1/0001\n" {
		t.Fatalf("stdout %q", out)
	}
	if h := c.node.holder("jobs/x"); h != "" || c.node.openSessions() != 0 {
		t.Fatalf("after exit: holder %q, %d sessions open", h, c.node.openSessions())
	}
	if ttl := c.node.lastSession().ttl; ttl != 5*time.Second {
		t.Fatalf("session ttl %s, want --ttl", ttl)
	}
	var got struct {
		Name  string `json:"name"`
		Token uint64 `json:"token"`
		PID   string `json:"pid"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "lock", "acquire", "jobs/x", "--hold", "1ms", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "jobs/x" || got.Token != 102 || got.PID != "n1/0002" {
		t.Fatalf("json %+v", got)
	}
}

func TestLockAcquireRefused(t *testing.T) {
	c := newCLI(t)
	sess, _ := holdWithSDK(t, c, "jobs/x")
	msg := c.fails("lock", "acquire", "jobs/x")
	if !strings.HasPrefix(msg, `conclave: lock acquire "jobs/x": AlreadyExists: `) || !strings.HasSuffix(msg, "held by "+sess.PID()) {
		t.Fatalf("stderr %q", msg)
	}
	// The refused command's session is gone; the holder's stays.
	waitFor(t, 5*time.Second, func() bool { return c.node.openSessions() == 1 })
}

func TestLockAcquireHoldsUntilSignal(t *testing.T) {
	c := newCLI(t)
	sigs := newFakeSignals()
	r := c.start(sigs, "", "lock", "acquire", "jobs/x")
	waitFor(t, 10*time.Second, func() bool { return strings.HasPrefix(r.out.String(), "acquired ") })
	if c.node.holder("jobs/x") == "" {
		t.Fatal("lock not held while acquire runs")
	}
	sigs.send(t, syscall.SIGINT)
	if code := r.wait(t); code != 0 || r.errOut.String() != "" {
		t.Fatalf("exit %d, stderr %q", code, r.errOut.String())
	}
	if c.node.holder("jobs/x") != "" {
		t.Fatal("lock still held after acquire exited")
	}
}

func TestLockAcquireWaitsForRelease(t *testing.T) {
	c := newCLI(t)
	_, held := holdWithSDK(t, c, "jobs/x")
	r := c.start(newFakeSignals(), "", "lock", "acquire", "jobs/x", "--wait", "20s", "--hold", "1ms")
	waitFor(t, 10*time.Second, func() bool {
		info, err := c.node.Locks().Inspect(context.Background(), "jobs/x", cluster.ReadDefault)
		return err == nil && len(info.Waiters) == 1
	})
	if err := held.Unlock(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != 0 || !strings.HasPrefix(r.out.String(), "acquired jobs/x token 102 ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, r.out.String(), r.errOut.String())
	}
}

func TestLockAcquireLostExits1(t *testing.T) {
	c := newCLI(t)
	r := c.start(newFakeSignals(), "", "lock", "acquire", "jobs/x")
	waitFor(t, 10*time.Second, func() bool { return strings.HasPrefix(r.out.String(), "acquired ") })
	c.node.lastSession().emit(cluster.SessionEvent{Kind: cluster.EventLockAtRisk, Lock: "jobs/x", Token: 101, Detail: "no contact with the Raft core for 5s"})
	if code := r.wait(t); code != 1 {
		t.Fatalf("exit %d after the lock went at risk", code)
	}
	msg := oneErrLine(t, r.errOut.String())
	if msg != `conclave: lock acquire "jobs/x": lock at risk: no contact with the Raft core for 5s` {
		t.Fatalf("stderr %q", msg)
	}
}

func TestLockRelease(t *testing.T) {
	c := newCLI(t)
	sess, _ := holdWithSDK(t, c, "jobs/x")
	if msg := c.fails("lock", "release", "jobs/x"); !strings.Contains(msg, "--pid is required") {
		t.Fatalf("release without --pid: %q", msg)
	}
	if msg := c.fails("lock", "release", "jobs/x", "--pid", "n1/beef"); !strings.Contains(msg, "FailedPrecondition: ") {
		t.Fatalf("release for a session not open: %q", msg)
	}
	if out := c.ok("", "lock", "release", "jobs/x", "--pid", sess.PID()); out != "released jobs/x (pid "+sess.PID()+")\n" {
		t.Fatalf("stdout %q", out)
	}
	if c.node.holder("jobs/x") != "" {
		t.Fatal("still held")
	}
	if msg := c.fails("lock", "release", "jobs/x", "--pid", sess.PID()); !strings.Contains(msg, `lock release "jobs/x": FailedPrecondition: `) {
		t.Fatalf("second release: %q", msg)
	}
}

func TestLockInspectAndList(t *testing.T) {
	c := newCLI(t)
	a, _ := holdWithSDK(t, c, "jobs/a")
	b, _ := holdWithSDK(t, c, "jobs/b")
	holdWithSDK(t, c, "other")

	out := c.ok("", "lock", "list", "jobs/", "--mode", "stale")
	want := "" +
		"NAME    HOLDER   TOKEN  GRANTED_AT            WAITERS\n" +
		"jobs/a  " + a.PID() + "  101    2025-03-01T12:00:00Z  0\n" +
		"jobs/b  " + b.PID() + "  102    2025-03-01T12:00:00Z  0\n"
	if out != want {
		t.Fatalf("list:\n%s\nwant:\n%s", out, want)
	}
	var all []lockJSON
	if err := json.Unmarshal([]byte(c.ok("", "lock", "list", "-o", "json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[2].Name != "other" || all[0].Holder != a.PID() || *all[0].GrantedAt != "2025-03-01T12:00:00Z" {
		t.Fatalf("list json %+v", all)
	}

	out = c.ok("", "lock", "inspect", "jobs/b")
	if !strings.HasPrefix(out, "NAME ") || !strings.Contains(out, "jobs/b  "+b.PID()+"  102") {
		t.Fatalf("inspect:\n%s", out)
	}
	var one lockJSON
	if err := json.Unmarshal([]byte(c.ok("", "lock", "inspect", "jobs/b", "-o", "json", "--mode", "consistent")), &one); err != nil {
		t.Fatal(err)
	}
	if one.Name != "jobs/b" || one.Token != 102 || one.DelayUntil != nil || one.Waiters == nil {
		t.Fatalf("inspect json %+v", one)
	}
	if msg := c.fails("lock", "inspect", "free"); msg != `conclave: lock inspect "free": NotFound: inspect "free": not found` {
		t.Fatalf("inspect of a free lock: %q", msg)
	}
}

func TestLockFlagErrors(t *testing.T) {
	c := newCLI(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"negative wait":       {[]string{"lock", "acquire", "x", "--wait", "-1s"}, "invalid --wait -1s"},
		"negative lock delay": {[]string{"lock", "acquire", "x", "--lock-delay", "-1s"}, "invalid --lock-delay -1s"},
		"negative ttl":        {[]string{"lock", "run", "x", "--ttl", "-2s", "--", "true"}, "invalid --ttl -2s"},
		"negative hold":       {[]string{"lock", "acquire", "x", "--hold", "-1s"}, "invalid --hold -1s"},
		"zero kill-after":     {[]string{"lock", "run", "x", "--kill-after", "0s", "--", "true"}, "invalid --kill-after 0s"},
		"run without command": {[]string{"lock", "run", "x"}, "lock run: missing CMD (usage: conclave lock run NAME [flags] -- CMD [ARGS...])"},
		"run two before dash": {[]string{"lock", "run", "x", "y", "--", "true"}, "want exactly NAME before --"},
		"acquire no name":     {[]string{"lock", "acquire"}, "lock acquire: missing NAME"},
		"inspect bad mode":    {[]string{"lock", "inspect", "x", "--mode", "fresh"}, `invalid --mode "fresh"`},
		"bad output":          {[]string{"lock", "acquire", "x", "-o", "yaml"}, `invalid --output "yaml"`},
		"bad duration":        {[]string{"lock", "acquire", "x", "--wait", "soon"}, "--wait"},
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
	if n := c.node.openSessions(); n != 0 || c.node.lastSession() != nil {
		t.Fatalf("a refused command opened a session (%d open)", n)
	}
}
