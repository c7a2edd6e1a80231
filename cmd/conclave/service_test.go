package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/registry"
)

// TestServiceRunRegistersWhileTheCommandRuns: the instance exists while
// CMD runs (CMD sees its identity in the environment), is gone once it
// exits, and service run exits with CMD's status.
func TestServiceRunRegistersWhileTheCommandRuns(t *testing.T) {
	c := newCLI(t)
	sigs := newFakeSignals()
	r := c.start(sigs, "", "service", "run", "api", "--endpoint", "127.0.0.1:8080", "--protocol", "http",
		"--tag", "v1", "--tag", "blue", "--meta", "zone=a", "--id", "api-1", "--",
		"sh", "-c", `echo "$CONCLAVE_SERVICE $CONCLAVE_SERVICE_ID $CONCLAVE_SERVICE_ENDPOINT $CONCLAVE_SESSION_PID"; trap "exit 4" TERM; while :; do sleep 0.05; done`)
	waitFor(t, 10*time.Second, func() bool { return strings.HasPrefix(r.out.String(), "api api-1 127.0.0.1:8080 n1/") })

	out := c.ok("", "service", "list", "api")
	if !strings.HasPrefix(out, "ID") || !strings.Contains(out, "api-1") || !strings.Contains(out, "127.0.0.1:8080") ||
		!strings.Contains(out, "passing") || !strings.Contains(out, "v1,blue") {
		t.Fatalf("service list api = %q", out)
	}
	if out := c.ok("", "service", "list"); !strings.Contains(out, "SERVICE") || !strings.Contains(out, "api") {
		t.Fatalf("service list = %q", out)
	}
	var shown []instanceJSON
	if err := json.Unmarshal([]byte(c.ok("", "service", "show", "api", "api-1", "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown) != 1 || shown[0].Meta["zone"] != "a" || shown[0].Protocol != "http" || shown[0].Health != "passing" ||
		shown[0].RegisteredAt == nil || *shown[0].RegisteredAt != "2026-12-03T12:00:00Z" {
		t.Fatalf("service show -o json = %+v", shown)
	}
	if out := c.ok("", "service", "show", "api"); !strings.Contains(out, "meta:") || !strings.Contains(out, "zone=a") {
		t.Fatalf("service show = %q", out)
	}

	sigs.send(t, syscall.SIGTERM)
	if code := r.wait(t); code != 4 {
		t.Fatalf("exit %d, stderr %q; want the command's 4", code, r.errOut.String())
	}
	if c.node.openSessions() != 0 {
		t.Fatal("session left behind")
	}
	if insts, _ := c.node.Registry().Instances(registry.Filter{Service: "api"}); len(insts) != 0 {
		t.Fatalf("instances left behind: %+v", insts)
	}
	// The plain exit code passes through.
	if code, _, errOut := c.run("", "service", "run", "api", "--endpoint", "127.0.0.1:1", "--", "sh", "-c", "exit 3"); code != 3 || errOut != "" {
		t.Fatalf("exit %d, stderr %q; want 3", code, errOut)
	}
}

// TestServiceRunSessionEnded: when the agent ends the session (which
// removes the instance), CMD is stopped and service run exits 1 saying
// why.
func TestServiceRunSessionEnded(t *testing.T) {
	c := newCLI(t)
	r := c.start(newFakeSignals(), "", "service", "run", "api", "--endpoint", "127.0.0.1:1", "--", "sh", "-c", "echo started; exec sleep 60")
	waitFor(t, 10*time.Second, func() bool { return r.out.String() == "started\n" })
	sess := c.node.lastSession()
	sess.end()
	if code := r.wait(t); code != 1 {
		t.Fatalf("exit %d after the session ended", code)
	}
	msg := oneErrLine(t, r.errOut.String())
	if !strings.HasPrefix(msg, `conclave: service run "api": session ended: `) || !strings.HasSuffix(msg, "stopping sh") {
		t.Fatalf("stderr %q", msg)
	}
}

func TestServiceRegisterHoldAndDeregister(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "service", "register", "db", "--endpoint", "127.0.0.1:5432", "--id", "db-1", "--hold", "1ms")
	if !strings.HasPrefix(out, "registered db id db-1 endpoint 127.0.0.1:5432 pid n1/") {
		t.Fatalf("register = %q", out)
	}
	if insts, _ := c.node.Registry().Instances(registry.Filter{Service: "db"}); len(insts) != 0 {
		t.Fatalf("instance left after --hold passed: %+v", insts)
	}

	sigs := newFakeSignals()
	r := c.start(sigs, "", "service", "register", "db", "--endpoint", "127.0.0.1:5432", "--id", "db-1")
	waitFor(t, 10*time.Second, func() bool { return strings.HasPrefix(r.out.String(), "registered db") })
	if out := c.ok("", "service", "deregister", "db", "db-1"); out != "deregistered db db-1\n" {
		t.Fatalf("deregister = %q", out)
	}
	if msg := c.fails("service", "deregister", "db", "db-1"); !strings.Contains(msg, "NotFound") {
		t.Fatalf("second deregister: %q", msg)
	}
	sigs.send(t, syscall.SIGINT)
	if code := r.wait(t); code != 0 {
		t.Fatalf("register exit %d after SIGINT, stderr %q", code, r.errOut.String())
	}
}

// TestServiceWatch prints the answer, then the answer again at each
// change, one JSON object per line with -o json.
func TestServiceWatch(t *testing.T) {
	c := newCLI(t)
	sigs := newFakeSignals()
	r := c.start(sigs, "", "service", "watch", "api", "-o", "json")
	waitFor(t, 10*time.Second, func() bool { return strings.Count(r.out.String(), "\n") == 1 })
	hold := c.start(newFakeSignals(), "", "service", "register", "api", "--endpoint", "127.0.0.1:9", "--id", "x", "--hold", "1ms")
	if code := hold.wait(t); code != 0 {
		t.Fatalf("register: %d %q", code, hold.errOut.String())
	}
	// Registered, then removed when the session closed: two more lines
	// (or one, if the watch saw only the end state).
	waitFor(t, 10*time.Second, func() bool {
		lines := strings.Split(strings.TrimSpace(r.out.String()), "\n")
		return len(lines) >= 2 && strings.Contains(lines[len(lines)-1], `"instances":[]`)
	})
	sigs.send(t, syscall.SIGTERM)
	if code := r.wait(t); code != 0 {
		t.Fatalf("watch exit %d, stderr %q", code, r.errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(r.out.String()), "\n")
	var first struct {
		Index     uint64         `json:"index"`
		Instances []instanceJSON `json:"instances"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Index == 0 || len(first.Instances) != 0 {
		t.Fatalf("first line %q: %v", lines[0], err)
	}
}

func TestServiceBadInput(t *testing.T) {
	c := newCLI(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"no endpoint":       {[]string{"service", "register", "api"}, "conclave: --endpoint is required"},
		"bad meta":          {[]string{"service", "register", "api", "--endpoint", "h:1", "--meta", "novalue"}, `conclave: invalid --meta "novalue": want KEY=VALUE`},
		"interval no check": {[]string{"service", "register", "api", "--endpoint", "h:1", "--check-interval", "1s"}, "conclave: --check-interval and --check-timeout need a check"},
		"bad protocol":      {[]string{"service", "register", "api", "--endpoint", "h:1", "--protocol", "smtp"}, `conclave: service register "api": InvalidArgument: protocol`},
		"run no cmd":        {[]string{"service", "run", "api"}, "conclave: service run: missing CMD"},
		"run two@dash":      {[]string{"service", "run", "a", "b", "--", "true"}, "conclave: service run: want exactly NAME before --, got 2 arguments"},
		"list filter":       {[]string{"service", "list", "--passing"}, "conclave: service list: --tag, --group and --passing select instances: name the service"},
		"show unknown":      {[]string{"service", "show", "api", "nope"}, `conclave: service show "api" "nope": NotFound`},
		"unknown verb":      {[]string{"service", "frob"}, `conclave: unknown command "frob" for "conclave service"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c.t = t
			if msg := c.fails(tc.args...); !strings.HasPrefix(msg, tc.want) {
				t.Fatalf("stderr %q\nwant      %q", msg, tc.want)
			}
		})
	}
	if n := c.node.openSessions(); n != 0 {
		t.Fatalf("%d sessions left open by refused commands", n)
	}
}
