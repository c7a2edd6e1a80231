package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conclave-dev/conclave/api/client"
)

func newLockCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Take, hold, release and inspect distributed locks",
		Long: "Take, hold, release and inspect distributed locks. A lock is held by a session:\n" +
			"acquire and run open one on the agent and hold the lock while they run; when they\n" +
			"exit (or lose the agent for longer than --ttl) the lock is released.",
	}
	f := addClientFlags(cmd, e)
	cmd.AddCommand(newLockAcquireCmd(f, e), newLockRunCmd(f, e), newLockReleaseCmd(f),
		newLockInspectCmd(f), newLockListCmd(f))
	return cmd
}

// lockFlags are the session and acquire settings of acquire and run.
type lockFlags struct {
	wait      time.Duration
	lockDelay time.Duration
	ttl       time.Duration
}

func (lf *lockFlags) register(fs *pflag.FlagSet, wait time.Duration) {
	fs.DurationVar(&lf.wait, "wait", wait, "queue for the lock this long when it is held (0 = fail at once)")
	fs.DurationVar(&lf.lockDelay, "lock-delay", 0, "keep the lock unavailable this long after an automatic release (max 60s)")
	fs.DurationVar(&lf.ttl, "ttl", 0, "session TTL: the lock is released when the agent hears nothing for this long (0 = agent default, 10s)")
}

// validate rejects what the agent would reject anyway, naming the flag
// rather than the wire field.
func (lf lockFlags) validate() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--wait", lf.wait}, {"--lock-delay", lf.lockDelay}, {"--ttl", lf.ttl}} {
		if d.v < 0 {
			return fmt.Errorf("invalid %s %s: must not be negative", d.flag, d.v)
		}
	}
	return nil
}

// acquire opens a session and takes name for it. ctx bounds both (the
// session then lives on until closed). On failure nothing stays open.
func acquire(ctx context.Context, c *client.Client, name string, lf lockFlags) (*client.Session, *client.Lock, error) {
	sess, err := c.Session(ctx, client.WithTTL(lf.ttl))
	if err != nil {
		return nil, nil, err
	}
	l, err := sess.Lock(ctx, name, client.Wait(lf.wait), client.LockDelay(lf.lockDelay))
	if err != nil {
		_ = sess.Close()
		return nil, nil, err
	}
	return sess, l, nil
}

// acquireInterruptibly is acquire under --timeout plus the wait, given up
// when a signal arrives on sigc.
func acquireInterruptibly(parent context.Context, sigc <-chan os.Signal, c *client.Client, f *clientFlags,
	verb, name string, lf lockFlags) (*client.Session, *client.Lock, error) {
	return takeInterruptibly(parent, sigc, f.timeout+lf.wait, verb, name,
		func(ctx context.Context) (*client.Session, *client.Lock, error) { return acquire(ctx, c, name, lf) })
}

// takeInterruptibly runs take (which opens a session and takes something
// in it, closing the session itself if the taking fails) within timeout,
// given up when a signal arrives on sigc. On failure nothing stays open.
func takeInterruptibly[T any](parent context.Context, sigc <-chan os.Signal, timeout time.Duration,
	verb, name string, take func(context.Context) (*client.Session, T, error)) (*client.Session, T, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	done := make(chan struct{})
	interrupted := make(chan bool, 1)
	go func() {
		select {
		case <-sigc:
			cancel()
			interrupted <- true
		case <-done:
			interrupted <- false
		}
	}()
	sess, held, err := take(ctx)
	close(done)
	var none T
	if <-interrupted {
		if err == nil {
			_ = sess.Close()
		}
		return nil, none, fmt.Errorf("%s %q: interrupted", verb, name)
	}
	if err != nil {
		return nil, none, failed(fmt.Sprintf("%s %q", verb, name), err)
	}
	return sess, held, nil
}

// releaseAndClose unlocks l and closes its session. Closing alone would
// release the lock too; the explicit release comes first so it is
// reported if it fails.
func releaseAndClose(timeout time.Duration, verb, name string, sess *client.Session, l *client.Lock) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := l.Unlock(ctx)
	cerr := sess.Close()
	if err != nil {
		return failed(fmt.Sprintf("%s %q: release", verb, name), err)
	}
	if cerr != nil {
		return failed(fmt.Sprintf("%s %q: close session", verb, name), cerr)
	}
	return nil
}

func newLockAcquireCmd(f *clientFlags, e env) *cobra.Command {
	var (
		lf   lockFlags
		hold time.Duration
	)
	cmd := &cobra.Command{
		Use:   "acquire NAME",
		Short: "Take a lock and hold it until interrupted (or for --hold)",
		Long: "Take a lock, print its fencing token, and hold it until SIGINT/SIGTERM or until\n" +
			"--hold passes; then release it and exit 0. Exits 1 if the lock is refused, or if it\n" +
			"is lost or at risk while held.",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := lf.validate(); err != nil {
				return err
			}
			if hold < 0 {
				return fmt.Errorf("invalid --hold %s: must not be negative", hold)
			}
			c, p, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			sigc := make(chan os.Signal, 1)
			defer e.notifySignals(sigc)()

			sess, l, err := acquireInterruptibly(cmd.Context(), sigc, c, f, "lock acquire", name, lf)
			if err != nil {
				return err
			}
			if err := printAcquired(p, name, l.Token(), sess.PID()); err != nil {
				_ = sess.Close()
				return err
			}
			lost, stopWatch := watchLock(sess, l)
			var holdC <-chan time.Time
			if hold > 0 {
				t := time.NewTimer(hold)
				defer t.Stop()
				holdC = t.C
			}
			var why string
			select {
			case <-sigc:
			case <-holdC:
			case <-cmd.Context().Done():
			case why = <-lost:
			}
			stopWatch()
			if why != "" {
				_ = sess.Close()
				return fmt.Errorf("lock acquire %q: %s", name, why)
			}
			return releaseAndClose(f.timeout, "lock acquire", name, sess, l)
		},
	}
	lf.register(cmd.Flags(), 0)
	cmd.Flags().DurationVar(&hold, "hold", 0, "release after this long (0 = hold until SIGINT/SIGTERM)")
	return cmd
}

func newLockReleaseCmd(f *clientFlags) *cobra.Command {
	var pid string
	cmd := &cobra.Command{
		Use:   "release NAME --pid PID",
		Short: "Release a lock on behalf of a session open on the agent",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if pid == "" {
				return fmt.Errorf("lock release %q: --pid is required (the holder's session, as lock inspect shows it)", name)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.Locks().Release(ctx, pid, name); err != nil {
					return failed(fmt.Sprintf("lock release %q", name), err)
				}
				if p.json {
					return p.JSON(struct {
						Name     string `json:"name"`
						PID      string `json:"pid"`
						Released bool   `json:"released"`
					}{name, pid, true})
				}
				_, err := fmt.Fprintf(p.w, "released %s (pid %s)\n", name, pid)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&pid, "pid", "", "the holding session's PID (<node>/<session-id>)")
	return cmd
}

func newLockInspectCmd(f *clientFlags) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show a lock: holder, fencing token, waiters",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				info, err := c.Locks().Inspect(ctx, name, m)
				if err != nil {
					return failed(fmt.Sprintf("lock inspect %q", name), err)
				}
				return printLockInspect(p, info)
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	return cmd
}

func newLockListCmd(f *clientFlags) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "list [PREFIX]",
		Short: "List the held (or awaited) locks with a prefix, by name",
		Args:  argNames("[PREFIX]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var prefix string
			if len(args) == 1 {
				prefix = args[0]
			}
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				ls, err := c.Locks().List(ctx, prefix, m)
				if err != nil {
					return failed(fmt.Sprintf("lock list %q", prefix), err)
				}
				return printLockList(p, ls)
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	return cmd
}

// printAcquired prints the grant: `acquired NAME token N pid P`, so a
// script can pick the token with awk.
func printAcquired(p *printer, name string, token uint64, pid string) error {
	if p.json {
		return p.JSON(struct {
			Name  string `json:"name"`
			Token uint64 `json:"token"`
			PID   string `json:"pid"`
		}{name, token, pid})
	}
	_, err := fmt.Fprintf(p.w, "acquired %s token %d pid %s\n", name, token, pid)
	return err
}

// lockJSON is the stable JSON shape of a lock; times are RFC 3339 UTC, null
// when unset.
type lockJSON struct {
	Name        string           `json:"name"`
	Holder      string           `json:"holder"`
	Token       uint64           `json:"token"`
	GrantedAt   *string          `json:"granted_at"`
	LockDelayMS int64            `json:"lock_delay_ms"`
	DelayUntil  *string          `json:"delay_until"`
	Waiters     []lockWaiterJSON `json:"waiters"`
}

type lockWaiterJSON struct {
	PID      string  `json:"pid"`
	Deadline *string `json:"deadline"`
}

func jsonTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

func toLockJSON(l client.LockInfo) lockJSON {
	out := lockJSON{
		Name: l.Name, Holder: l.Holder, Token: l.Token, GrantedAt: jsonTime(l.GrantedAt),
		LockDelayMS: l.LockDelay.Milliseconds(), DelayUntil: jsonTime(l.DelayUntil),
		Waiters: make([]lockWaiterJSON, 0, len(l.Waiters)),
	}
	for _, w := range l.Waiters {
		out.Waiters = append(out.Waiters, lockWaiterJSON{PID: w.PID, Deadline: jsonTime(w.Deadline)})
	}
	return out
}

// tableTime renders a time in a table cell, to the second.
func tableTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// lockHolder shows who holds a lock; a lock without a holder is held back
// by its lock delay.
func lockHolder(l client.LockInfo) string {
	if l.Holder == "" && !l.DelayUntil.IsZero() {
		return "(delay until " + tableTime(l.DelayUntil) + ")"
	}
	return orDash(l.Holder)
}

func printLockList(p *printer, ls []client.LockInfo) error {
	if p.json {
		out := make([]lockJSON, 0, len(ls))
		for _, l := range ls {
			out = append(out, toLockJSON(l))
		}
		return p.JSON(out)
	}
	tw := p.table()
	fmt.Fprintln(tw, "NAME\tHOLDER\tTOKEN\tGRANTED_AT\tWAITERS")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", displayValue([]byte(l.Name)), lockHolder(l), l.Token,
			tableTime(l.GrantedAt), len(l.Waiters))
	}
	return tw.Flush()
}

// printLockInspect is the list row of the lock, then its queue in order.
func printLockInspect(p *printer, l client.LockInfo) error {
	if p.json {
		return p.JSON(toLockJSON(l))
	}
	if err := printLockList(p, []client.LockInfo{l}); err != nil {
		return err
	}
	if len(l.Waiters) == 0 {
		return nil
	}
	fmt.Fprintln(p.w)
	tw := p.table()
	fmt.Fprintln(tw, "POSITION\tWAITER\tDEADLINE")
	for i, w := range l.Waiters {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strconv.Itoa(i+1), w.PID, tableTime(w.Deadline))
	}
	return tw.Flush()
}
