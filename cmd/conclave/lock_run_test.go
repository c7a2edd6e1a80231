package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/cluster"
)

func TestLockRunPassesTokenAndExitCode(t *testing.T) {
	c := newCLI(t)
	code, out, errOut := c.run("", "lock", "run", "jobs/x", "--",
		"sh", "-c", `echo "$CONCLAVE_LOCK_NAME $CONCLAVE_LOCK_TOKEN $CONCLAVE_SESSION_PID"; exit 3`)
	if code != 3 || out != "jobs/x 101 n1/0001\n" || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 3 and the lock's env", code, out, errOut)
	}
	if c.node.holder("jobs/x") != "" || c.node.openSessions() != 0 {
		t.Fatal("lock or session left behind after the command exited")
	}
	// stdin and stdout pass through; success is 0.
	if out := c.ok("hello from stdin", "lock", "run", "jobs/x", "--", "cat"); out != "hello from stdin" {
		t.Fatalf("cat through lock run = %q", out)
	}
}

func TestLockRunHeldFails(t *testing.T) {
	c := newCLI(t)
	sess, _ := holdWithSDK(t, c, "jobs/x")
	code, out, errOut := c.run("", "lock", "run", "jobs/x", "--wait", "0s", "--", "sh", "-c", "echo ran")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q: the command must not run without the lock", code, out)
	}
	if msg := oneErrLine(t, errOut); !strings.HasPrefix(msg, `conclave: lock run "jobs/x": AlreadyExists: `) || !strings.Contains(msg, sess.PID()) {
		t.Fatalf("stderr %q", msg)
	}
	if msg := c.fails("lock", "run", "jobs/y", "--", "/nonexistent/cmd"); !strings.Contains(msg, `lock run "jobs/y": `) {
		t.Fatalf("unstartable command: %q", msg)
	}
	if c.node.holder("jobs/y") != "" {
		t.Fatal("lock kept after the command failed to start")
	}
}

// TestLockRunLostKillsGroup: the command and what it started ignore
// SIGTERM; once the lock is lost, all of them die by SIGKILL.
func TestLockRunLostKillsGroup(t *testing.T) {
	c := newCLI(t)
	r := c.start(newFakeSignals(), "", "lock", "run", "jobs/x", "--kill-after", "100ms", "--",
		"sh", "-c", `trap "" TERM; sleep 60 & echo "$!"; wait; wait`)
	var bgPID int
	waitFor(t, 10*time.Second, func() bool {
		pid, err := strconv.Atoi(strings.TrimSpace(r.out.String()))
		bgPID = pid
		return err == nil
	})
	c.node.lastSession().emit(cluster.SessionEvent{Kind: cluster.EventLockLost, Lock: "jobs/x", Token: 101, Detail: "released by the cluster"})
	if code := r.wait(t); code != 1 {
		t.Fatalf("exit %d after the lock was lost", code)
	}
	msg := oneErrLine(t, r.errOut.String())
	if msg != `conclave: lock run "jobs/x": lock lost: released by the cluster; stopping sh` {
		t.Fatalf("stderr %q", msg)
	}
	waitFor(t, 10*time.Second, func() bool { return processGone(bgPID) })
	if c.node.openSessions() != 0 {
		t.Fatal("session left open")
	}
}

// processGone: no such process, or only its zombie waiting for a reaper.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

func TestLockRunSessionEnded(t *testing.T) {
	c := newCLI(t)
	r := c.start(newFakeSignals(), "", "lock", "run", "jobs/x", "--", "sh", "-c", "echo started; exec sleep 60")
	waitFor(t, 10*time.Second, func() bool { return r.out.String() == "started\n" })
	sess := c.node.lastSession()
	sess.end() // the agent ended it
	if code := r.wait(t); code != 1 {
		t.Fatalf("exit %d after the session ended", code)
	}
	msg := oneErrLine(t, r.errOut.String())
	want := `conclave: lock run "jobs/x": session ended: Unavailable: session ` + sess.pid + ` ended by node n1; stopping sh`
	if msg != want {
		t.Fatalf("stderr %q\nwant   %q", msg, want)
	}
}

func TestLockRunForwardsSignals(t *testing.T) {
	c := newCLI(t)
	sigs := newFakeSignals()
	r := c.start(sigs, "", "lock", "run", "jobs/x", "--",
		"sh", "-c", `trap "exit 7" TERM; echo started; while :; do sleep 0.05; done`)
	waitFor(t, 10*time.Second, func() bool { return r.out.String() == "started\n" })
	sigs.send(t, syscall.SIGTERM)
	// The shell may report its killed sleep ("Terminated"); lock run
	// itself has nothing to say.
	if code := r.wait(t); code != 7 || strings.Contains(r.errOut.String(), "conclave:") {
		t.Fatalf("exit %d, stderr %q; want the command's 7", code, r.errOut.String())
	}
	if c.node.holder("jobs/x") != "" || c.node.openSessions() != 0 {
		t.Fatal("lock or session left behind")
	}
}

func TestLockRunInterruptedWhileWaiting(t *testing.T) {
	c := newCLI(t)
	holdWithSDK(t, c, "jobs/x")
	sigs := newFakeSignals()
	r := c.start(sigs, "", "lock", "run", "jobs/x", "--wait", "1m", "--", "sh", "-c", "echo ran")
	waitFor(t, 10*time.Second, func() bool { return c.node.openSessions() == 2 })
	sigs.send(t, syscall.SIGINT)
	if code := r.wait(t); code != 1 || r.out.String() != "" {
		t.Fatalf("exit %d, stdout %q", code, r.out.String())
	}
	if msg := oneErrLine(t, r.errOut.String()); msg != `conclave: lock run "jobs/x": interrupted` {
		t.Fatalf("stderr %q", msg)
	}
	waitFor(t, 5*time.Second, func() bool { return c.node.openSessions() == 1 })
}

func TestExitStatus(t *testing.T) {
	for args, want := range map[string]int{"exit 0": 0, "exit 42": 42, "kill -TERM $$": 128 + 15} {
		cmd := shellStatus(t, "sh", "-c", args)
		if got := exitStatus(cmd); got != want {
			t.Errorf("%q: exit status %d, want %d", args, got, want)
		}
	}
	if exitStatus(nil) != 1 {
		t.Error("no process state must read as failure")
	}
}

func shellStatus(t *testing.T, name string, args ...string) *os.ProcessState {
	t.Helper()
	p, err := os.StartProcess("/bin/sh", append([]string{name}, args...), &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestLostBy(t *testing.T) {
	l := lockFor(t, "a", 5)
	tests := map[string]struct {
		ev   client.SessionEvent
		want string
	}{
		"lost":          {client.SessionEvent{Kind: client.EventLockLost, Lock: "a", Token: 5, Detail: "gone"}, "lock lost: gone"},
		"at risk":       {client.SessionEvent{Kind: client.EventLockAtRisk, Lock: "a", Token: 5}, "lock at risk"},
		"any token":     {client.SessionEvent{Kind: client.EventLockLost, Lock: "a"}, "lock lost"},
		"older grant":   {client.SessionEvent{Kind: client.EventLockLost, Lock: "a", Token: 4}, ""},
		"other lock":    {client.SessionEvent{Kind: client.EventLockLost, Lock: "b", Token: 5}, ""},
		"safe":          {client.SessionEvent{Kind: client.EventLockSafe, Lock: "a", Token: 5}, ""},
		"granted again": {client.SessionEvent{Kind: client.EventLockGranted, Lock: "a", Token: 5}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := lostBy(tc.ev, l); got != tc.want {
				t.Fatalf("lostBy = %q, want %q", got, tc.want)
			}
		})
	}
}

// lockFor takes a real Lock from a fake agent, for the pure helpers.
func lockFor(t *testing.T, name string, skip int) *client.Lock {
	t.Helper()
	c := newCLI(t)
	c.node.lk.index = uint64(skip - 1)
	_, l := holdWithSDK(t, c, name)
	if l.Token() != uint64(skip) {
		t.Fatalf("token %d, want %d", l.Token(), skip)
	}
	return l
}

func TestLockJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := printLockInspect(&printer{w: &buf, json: true}, client.LockInfo{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	want := sorted("name", "holder", "token", "granted_at", "lock_delay_ms", "delay_until", "waiters")
	if got := jsonKeys(t, buf.Bytes()); !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if !strings.Contains(buf.String(), `"granted_at": null`) || !strings.Contains(buf.String(), `"waiters": []`) {
		t.Fatalf("zero values: %s", buf.String())
	}
	buf.Reset()
	if err := printLockList(&printer{w: &buf, json: true}, nil); err != nil || strings.TrimSpace(buf.String()) != "[]" {
		t.Fatalf("empty list = %q, %v", buf.String(), err)
	}
	buf.Reset()
	_ = printLockInspect(&printer{w: &buf, json: true}, client.LockInfo{
		Name: "a", LockDelay: 1500 * time.Millisecond,
		Waiters: []client.LockWaiter{{PID: "n2/1", Deadline: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)}},
	})
	var l lockJSON
	if err := json.Unmarshal(buf.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	if l.LockDelayMS != 1500 || len(l.Waiters) != 1 || *l.Waiters[0].Deadline != "2025-01-02T03:04:05.000000006Z" {
		t.Fatalf("json %s", buf.String())
	}
}

func TestLockInspectTable(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	err := printLockInspect(&printer{w: &buf}, client.LockInfo{
		Name: "jobs/x", Holder: "n1/ab", Token: 42, GrantedAt: at,
		Waiters: []client.LockWaiter{{PID: "n2/cd", Deadline: at.Add(time.Minute)}, {PID: "n3/ef"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME    HOLDER  TOKEN  GRANTED_AT            WAITERS\n" +
		"jobs/x  n1/ab   42     2025-03-01T12:00:00Z  2\n" +
		"\n" +
		"POSITION  WAITER  DEADLINE\n" +
		"1         n2/cd   2025-03-01T12:01:00Z\n" +
		"2         n3/ef   -\n"
	if buf.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	_ = printLockList(&printer{w: &buf}, []client.LockInfo{{Name: "d", Token: 9, DelayUntil: at}})
	if !strings.Contains(buf.String(), "(delay until 2025-03-01T12:00:00Z)") {
		t.Fatalf("a lock in its delay:\n%s", buf.String())
	}
}
