package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conclave-dev/conclave/api/client"
)

func newSemCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sem",
		Short: "Take, hold, release and inspect counting semaphores",
		Long: "Take, hold, release and inspect counting semaphores: up to --limit sessions hold a\n" +
			"semaphore at once, each with its own fencing token; the rest queue FIFO. Every\n" +
			"holder must pass the same --limit. Like locks, a slot is held by a session and\n" +
			"released when acquire or run exits, or when the session or its node is lost.",
	}
	f := addClientFlags(cmd, e)
	cmd.AddCommand(newSemAcquireCmd(f, e), newSemRunCmd(f, e), newSemReleaseCmd(f), newSemInspectCmd(f), newSemListCmd(f))
	return cmd
}

// semFlags are the session and acquire settings of sem acquire and run.
type semFlags struct {
	limit int
	wait  time.Duration
	ttl   time.Duration
}

func (sf *semFlags) register(fs *pflag.FlagSet, wait time.Duration) {
	fs.IntVar(&sf.limit, "limit", 0, "the semaphore's number of slots, 1-1000 (required; the same for every holder)")
	fs.DurationVar(&sf.wait, "wait", wait, "queue for a slot this long when all are held (0 = fail at once)")
	fs.DurationVar(&sf.ttl, "ttl", 0, "session TTL: the slot is released when the agent hears nothing for this long (0 = agent default, 10s)")
}

func (sf semFlags) validate() error {
	if sf.limit < 1 || sf.limit > 1000 {
		return fmt.Errorf("invalid --limit %d: must be between 1 and 1000", sf.limit)
	}
	if sf.wait < 0 {
		return fmt.Errorf("invalid --wait %s: must not be negative", sf.wait)
	}
	if sf.ttl < 0 {
		return fmt.Errorf("invalid --ttl %s: must not be negative", sf.ttl)
	}
	return nil
}

// semAcquire opens a session and takes a slot of name, under --timeout
// plus the wait, given up when a signal arrives on sigc. On failure
// nothing stays open.
func semAcquire(parent context.Context, sigc <-chan os.Signal, c *client.Client, f *clientFlags, verb, name string, sf semFlags) (*client.Session, *client.SemSlot, error) {
	return takeInterruptibly(parent, sigc, f.timeout+sf.wait, verb, name,
		func(ctx context.Context) (*client.Session, *client.SemSlot, error) {
			sess, err := c.Session(ctx, client.WithTTL(sf.ttl))
			if err != nil {
				return nil, nil, err
			}
			slot, err := sess.Semaphore(ctx, name, sf.limit, client.Wait(sf.wait))
			if err != nil {
				_ = sess.Close()
				return nil, nil, err
			}
			return sess, slot, nil
		})
}

// semReleaseAndClose frees the slot and closes its session.
func semReleaseAndClose(timeout time.Duration, verb, name string, sess *client.Session, slot *client.SemSlot) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := slot.Release(ctx)
	cerr := sess.Close()
	if err != nil {
		return failed(fmt.Sprintf("%s %q: release", verb, name), err)
	}
	if cerr != nil {
		return failed(fmt.Sprintf("%s %q: close session", verb, name), cerr)
	}
	return nil
}

func newSemAcquireCmd(f *clientFlags, e env) *cobra.Command {
	var (
		sf   semFlags
		hold time.Duration
	)
	cmd := &cobra.Command{
		Use:   "acquire NAME --limit N",
		Short: "Take a semaphore slot and hold it until interrupted (or for --hold)",
		Long: "Take a slot of a semaphore, print its fencing token, and hold it until SIGINT/SIGTERM\n" +
			"or until --hold passes; then release it and exit 0. Exits 1 if the slot is refused,\n" +
			"or if the session ends while held.",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := sf.validate(); err != nil {
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
			sess, slot, err := semAcquire(cmd.Context(), sigc, c, f, "sem acquire", name, sf)
			if err != nil {
				return err
			}
			if err := printAcquired(p, name, slot.Token(), sess.PID()); err != nil {
				_ = sess.Close()
				return err
			}
			lost, stopWatch := watchSession(sess)
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
				return fmt.Errorf("sem acquire %q: %s", name, why)
			}
			return semReleaseAndClose(f.timeout, "sem acquire", name, sess, slot)
		},
	}
	sf.register(cmd.Flags(), 0)
	cmd.Flags().DurationVar(&hold, "hold", 0, "release after this long (0 = hold until SIGINT/SIGTERM)")
	return cmd
}

func newSemRunCmd(f *clientFlags, e env) *cobra.Command {
	var (
		sf        semFlags
		killAfter time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run NAME --limit N [flags] -- CMD [ARGS...]",
		Short: "Run a command while holding a semaphore slot",
		Long: "Take a semaphore slot (waiting up to --wait), run CMD while holding it, then release\n" +
			"it. At most --limit such commands run at once across the cluster.\n\n" +
			"CMD gets CONCLAVE_SEM_NAME, CONCLAVE_SEM_TOKEN (the slot's fencing token) and\n" +
			"CONCLAVE_SESSION_PID in its environment, and runs in its own process group as with\n" +
			"lock run: signals are passed on, and if the session ends the group gets SIGTERM\n" +
			"(SIGKILL after --kill-after) and sem run exits 1. Otherwise sem run exits with\n" +
			"CMD's exit status.",
		Args: runArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, argv := args[0], args[1:]
			if err := sf.validate(); err != nil {
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
			sigc := make(chan os.Signal, 4)
			defer e.notifySignals(sigc)()
			sess, slot, err := semAcquire(cmd.Context(), sigc, c, f, "sem run", name, sf)
			if err != nil {
				return err
			}
			child := exec.Command(argv[0], argv[1:]...)
			child.Env = append(os.Environ(),
				"CONCLAVE_SEM_NAME="+name,
				"CONCLAVE_SEM_TOKEN="+strconv.FormatUint(slot.Token(), 10),
				"CONCLAVE_SESSION_PID="+sess.PID())
			child.Stdin, child.Stdout, child.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := child.Start(); err != nil {
				_ = semReleaseAndClose(f.timeout, "sem run", name, sess, slot)
				return fmt.Errorf("sem run %q: %w", name, err)
			}
			r := &childRun{child: child, killAfter: killAfter, sigc: sigc}
			lost, stopWatch := watchSession(sess)
			code, why := r.supervise(lost, fmt.Sprintf("sem run %q", name))
			stopWatch()
			if why != "" {
				_ = sess.Close()
				return exitError{1}
			}
			if err := semReleaseAndClose(f.timeout, "sem run", name, sess, slot); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "conclave: %s\n", oneLine(err.Error()))
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	sf.register(cmd.Flags(), 30*time.Second)
	cmd.Flags().DurationVar(&killAfter, "kill-after", defaultKillAfter, "after the session ends, SIGKILL the command if it has not exited this long after SIGTERM")
	return cmd
}

func newSemReleaseCmd(f *clientFlags) *cobra.Command {
	var pid string
	cmd := &cobra.Command{
		Use:   "release NAME --pid PID",
		Short: "Release a semaphore slot on behalf of a session open on the agent",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if pid == "" {
				return fmt.Errorf("sem release %q: --pid is required (the holder's session, as sem inspect shows it)", name)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.Semaphores().Release(ctx, pid, name); err != nil {
					return failed(fmt.Sprintf("sem release %q", name), err)
				}
				_, err := fmt.Fprintf(p.w, "released %s (pid %s)\n", name, pid)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&pid, "pid", "", "the holding session's PID (<node>/<session-id>)")
	return cmd
}

func newSemInspectCmd(f *clientFlags) *cobra.Command {
	var mode string
	var limit int
	cmd := &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show a semaphore: limit, holders with their tokens, and the queue",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				info, err := c.Semaphores().Inspect(ctx, name, m)
				if err != nil {
					return failed(fmt.Sprintf("sem inspect %q", name), err)
				}
				return printSemInspect(p, info)
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	// Accepted for symmetry with acquire and run (`sem inspect NAME --limit N`);
	// the semaphore's own limit is what is shown.
	cmd.Flags().IntVar(&limit, "limit", 0, "ignored: the semaphore's limit is shown")
	return cmd
}

func newSemListCmd(f *clientFlags) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "list [PREFIX]",
		Short: "List the held (or awaited) semaphores with a prefix, by name",
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
				ss, err := c.Semaphores().List(ctx, prefix, m)
				if err != nil {
					return failed(fmt.Sprintf("sem list %q", prefix), err)
				}
				if p.json {
					out := make([]semJSON, 0, len(ss))
					for _, s := range ss {
						out = append(out, toSemJSON(s))
					}
					return p.JSON(out)
				}
				tw := p.table()
				fmt.Fprintln(tw, "NAME\tLIMIT\tHOLDERS\tWAITERS")
				for _, s := range ss {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", displayValue([]byte(s.Name)), s.Limit, len(s.Holders), len(s.Waiters))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	return cmd
}

type semHolderJSON struct {
	PID       string  `json:"pid"`
	Token     uint64  `json:"token"`
	GrantedAt *string `json:"granted_at"`
}

type semJSON struct {
	Name    string           `json:"name"`
	Limit   int              `json:"limit"`
	Holders []semHolderJSON  `json:"holders"`
	Waiters []lockWaiterJSON `json:"waiters"`
}

func toSemJSON(s client.SemInfo) semJSON {
	out := semJSON{Name: s.Name, Limit: s.Limit, Holders: make([]semHolderJSON, 0, len(s.Holders)),
		Waiters: make([]lockWaiterJSON, 0, len(s.Waiters))}
	for _, h := range s.Holders {
		out.Holders = append(out.Holders, semHolderJSON{PID: h.PID, Token: h.Token, GrantedAt: jsonTime(h.GrantedAt)})
	}
	for _, w := range s.Waiters {
		out.Waiters = append(out.Waiters, lockWaiterJSON{PID: w.PID, Deadline: jsonTime(w.Deadline)})
	}
	return out
}

// printSemInspect prints the semaphore's limit, its holders in grant order
// and its queue in order.
func printSemInspect(p *printer, s client.SemInfo) error {
	if p.json {
		return p.JSON(toSemJSON(s))
	}
	fmt.Fprintf(p.w, "semaphore %s limit %d held %d\n\n", displayValue([]byte(s.Name)), s.Limit, len(s.Holders))
	tw := p.table()
	fmt.Fprintln(tw, "HOLDER\tTOKEN\tGRANTED_AT")
	for _, h := range s.Holders {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", h.PID, h.Token, tableTime(h.GrantedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Waiters) == 0 {
		return nil
	}
	fmt.Fprintln(p.w)
	tw = p.table()
	fmt.Fprintln(tw, "POSITION\tWAITER\tDEADLINE")
	for i, w := range s.Waiters {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strconv.Itoa(i+1), w.PID, tableTime(w.Deadline))
	}
	return tw.Flush()
}
