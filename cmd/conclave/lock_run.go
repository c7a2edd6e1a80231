package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

// lostEventGrace is how long to wait for the event that explains a closed
// Lost channel: the SDK closes Lost and queues the event back to back, so
// this is only ever a moment; it bounds the wait if the event was dropped.
const lostEventGrace = 500 * time.Millisecond

// defaultKillAfter is how long a command gets to stop after SIGTERM, once
// its lock is gone, before SIGKILL.
const defaultKillAfter = 5 * time.Second

func newLockRunCmd(f *clientFlags, e env) *cobra.Command {
	var (
		lf        lockFlags
		killAfter time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run NAME [flags] -- CMD [ARGS...]",
		Short: "Run a command while holding a lock",
		Long: "Take a lock (waiting up to --wait), run CMD while holding it, then release it.\n\n" +
			"CMD gets CONCLAVE_LOCK_NAME, CONCLAVE_LOCK_TOKEN (the fencing token) and\n" +
			"CONCLAVE_SESSION_PID in its environment, and this command's stdin, stdout and\n" +
			"stderr. It runs in its own process group: SIGINT and SIGTERM sent to lock run are\n" +
			"passed on to that group, and if the lock is lost or at risk, or the session ends,\n" +
			"the group gets SIGTERM (SIGKILL after --kill-after) and lock run exits 1 with one\n" +
			"line saying why. Otherwise lock run exits with CMD's exit status (128+N if a signal\n" +
			"N ended it).",
		Args: runArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, argv := args[0], args[1:]
			if err := lf.validate(); err != nil {
				return err
			}
			if killAfter <= 0 {
				return fmt.Errorf("invalid --kill-after %s: must be > 0", killAfter)
			}
			c, _, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			// Signals are ours from before the acquire: one that arrives
			// while queueing gives up the wait rather than killing us
			// with the session half-open.
			sigc := make(chan os.Signal, 4)
			defer e.notifySignals(sigc)()

			sess, l, err := acquireInterruptibly(cmd.Context(), sigc, c, f, "lock run", name, lf)
			if err != nil {
				return err
			}
			child := exec.Command(argv[0], argv[1:]...)
			child.Env = append(os.Environ(),
				"CONCLAVE_LOCK_NAME="+name,
				"CONCLAVE_LOCK_TOKEN="+strconv.FormatUint(l.Token(), 10),
				"CONCLAVE_SESSION_PID="+sess.PID())
			child.Stdin, child.Stdout, child.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			// Its own group, so that stopping it on a lost lock stops
			// whatever it started too (DESIGN §15: a child that kept
			// running after its lock was lost).
			child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := child.Start(); err != nil {
				_ = releaseAndClose(f.timeout, "lock run", name, sess, l)
				return fmt.Errorf("lock run %q: %w", name, err)
			}
			r := &childRun{child: child, killAfter: killAfter, sigc: sigc}
			lost, stopWatch := watchLock(sess, l)
			code, why := r.supervise(lost, fmt.Sprintf("lock run %q", name))
			stopWatch()
			if why != "" {
				_ = sess.Close()
				return exitError{1}
			}
			if err := releaseAndClose(f.timeout, "lock run", name, sess, l); err != nil {
				// The command's own status is what the caller asked
				// for; the release problem is reported beside it.
				fmt.Fprintf(cmd.ErrOrStderr(), "conclave: %s\n", oneLine(err.Error()))
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	lf.register(cmd.Flags(), 30*time.Second)
	cmd.Flags().DurationVar(&killAfter, "kill-after", defaultKillAfter, "after the lock is lost, SIGKILL the command if it has not exited this long after SIGTERM")
	return cmd
}

// childRun supervises one command run while something (a lock, a name)
// is held.
type childRun struct {
	child     *exec.Cmd
	killAfter time.Duration
	sigc      <-chan os.Signal
}

// supervise waits for the command to exit, passing signals on, and stops
// it when lost says why what it holds is in doubt. It returns the
// command's exit status and, if it was stopped so, why. op names the verb
// in the one line it prints.
func (r *childRun) supervise(lost <-chan string, op string) (code int, why string) {
	exited := make(chan error, 1)
	go func() { exited <- r.child.Wait() }()
	var kill <-chan time.Time
	for {
		select {
		case sig := <-r.sigc:
			r.signal(sig)
		case why = <-lost:
			lost = nil
			// The one line that says why goes out at once, before the
			// command's own last words.
			fmt.Fprintf(r.child.Stderr, "conclave: %s: %s; stopping %s\n", op, why, r.child.Args[0])
			r.signal(syscall.SIGTERM)
			t := time.NewTimer(r.killAfter)
			defer t.Stop()
			kill = t.C
		case <-kill:
			kill = nil
			r.signal(syscall.SIGKILL)
		case <-exited:
			return exitStatus(r.child.ProcessState), why
		}
	}
}

// signal sends sig to the command's process group (its pid, by Setpgid),
// or to the command alone if the group is gone.
func (r *childRun) signal(sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok {
		s = syscall.SIGTERM
	}
	if err := syscall.Kill(-r.child.Process.Pid, s); err != nil {
		_ = r.child.Process.Signal(s)
	}
}

// exitStatus is the shell's view of how a process ended: its exit code, or
// 128+N when signal N killed it.
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// watchLock reports, once, why l can no longer be relied on: an event
// saying it is lost or at risk, or the session's end. stop ends the watch
// and waits for its goroutine.
func watchLock(sess *client.Session, l *client.Lock) (lost <-chan string, stop func()) {
	out := make(chan string, 1)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if why := waitLost(quit, sess, l); why != "" {
			out <- why
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() { close(quit) })
		wg.Wait()
	}
}

func waitLost(quit <-chan struct{}, sess *client.Session, l *client.Lock) string {
	events := sess.Events()
	for {
		select {
		case <-quit:
			return ""
		case ev, ok := <-events:
			if !ok {
				events = nil // the session ended: Done says why
				continue
			}
			if why := lostBy(ev, l); why != "" {
				return why
			}
		case <-sess.Done():
			return sessionEnded(sess)
		case <-l.Lost():
			return explainLost(quit, sess, l, events)
		}
	}
}

// explainLost finds the event (or session end) behind a closed Lost.
func explainLost(quit <-chan struct{}, sess *client.Session, l *client.Lock, events <-chan client.SessionEvent) string {
	grace := time.NewTimer(lostEventGrace)
	defer grace.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return sessionEnded(sess)
			}
			if why := lostBy(ev, l); why != "" {
				return why
			}
		case <-sess.Done():
			return sessionEnded(sess)
		case <-grace.C:
			return "lock lost"
		case <-quit:
			return "lock lost"
		}
	}
}

// lostBy says why ev puts l in doubt, or "" if it does not.
func lostBy(ev client.SessionEvent, l *client.Lock) string {
	if ev.Lock != l.Name() || (ev.Token != 0 && ev.Token != l.Token()) {
		return ""
	}
	var what string
	switch ev.Kind {
	case client.EventLockLost:
		what = "lock lost"
	case client.EventLockAtRisk:
		what = "lock at risk"
	default:
		return ""
	}
	if ev.Detail != "" {
		what += ": " + ev.Detail
	}
	return what
}

func sessionEnded(sess *client.Session) string {
	if err := sess.Err(); err != nil {
		return "session ended: " + rpcError{err}.Error()
	}
	return "session closed"
}
