package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conclave-dev/conclave/api/client"
)

func newNameCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "name",
		Short: "Register, resolve, list and watch cluster-wide names",
		Long: "Register, resolve, list and watch cluster-wide names. A name is held by a session:\n" +
			"register and run open one on the agent and keep the name while they run; when they\n" +
			"exit (or lose the agent for longer than --ttl) the name is released.\n\n" +
			"Scopes: local (this agent only), eventual (gossip, converges in seconds; a conflict\n" +
			"picks one winner everywhere), consistent (Raft, first write wins), strong (consistent,\n" +
			"and every live node acknowledges first).",
	}
	f := addClientFlags(cmd, e)
	cmd.AddCommand(newNameRegisterCmd(f, e), newNameRunCmd(f, e), newNameUnregisterCmd(f),
		newNameLookupCmd(f), newNameListCmd(f), newNameWatchCmd(f, e))
	return cmd
}

// nameFlags are the session and registration settings of register and run.
type nameFlags struct {
	scope string
	meta  string
	ttl   time.Duration
}

func (nf *nameFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&nf.scope, "scope", "consistent", "local, eventual, consistent or strong")
	fs.StringVar(&nf.meta, "meta", "", "metadata to attach, such as an address (at most 4 KiB)")
	fs.DurationVar(&nf.ttl, "ttl", 0, "session TTL: the name is released when the agent hears nothing for this long (0 = agent default, 10s)")
}

func (nf nameFlags) parse() (client.Scope, error) {
	sc, err := client.ParseScope(nf.scope)
	if err != nil || sc == client.ScopeAll {
		return 0, fmt.Errorf("invalid --scope %q: want local, eventual, consistent or strong", nf.scope)
	}
	if nf.ttl < 0 {
		return 0, fmt.Errorf("invalid --ttl %s: must not be negative", nf.ttl)
	}
	return sc, nil
}

// registerName opens a session and registers name for it, under
// --timeout; a signal on sigc gives up. On failure nothing stays open.
func registerName(parent context.Context, sigc <-chan os.Signal, c *client.Client, f *clientFlags,
	verb, name string, sc client.Scope, nf nameFlags) (*client.Session, client.Binding, error) {
	ctx, cancel := context.WithTimeout(parent, f.timeout)
	defer cancel()
	interrupted := make(chan struct{})
	go func() {
		select {
		case <-sigc:
			close(interrupted)
			cancel()
		case <-ctx.Done():
		}
	}()
	fail := func(err error) (*client.Session, client.Binding, error) {
		select {
		case <-interrupted:
			return nil, client.Binding{}, fmt.Errorf("%s %q: interrupted", verb, name)
		default:
		}
		return nil, client.Binding{}, failed(fmt.Sprintf("%s %q", verb, name), err)
	}
	sess, err := c.Session(ctx, client.WithTTL(nf.ttl))
	if err != nil {
		return fail(err)
	}
	b, err := sess.Register(ctx, name, sc, []byte(nf.meta))
	if err != nil {
		_ = sess.Close()
		return fail(err)
	}
	return sess, b, nil
}

func newNameRegisterCmd(f *clientFlags, e env) *cobra.Command {
	var (
		nf   nameFlags
		hold time.Duration
	)
	cmd := &cobra.Command{
		Use:   "register NAME",
		Short: "Register a name and hold it until interrupted (or for --hold)",
		Long: "Register NAME for a new session, print the binding, and hold it until SIGINT/SIGTERM\n" +
			"or until --hold passes; then release it and exit 0. A refused registration exits 1\n" +
			"with the gRPC code and the owner (AlreadyExists: ... registered by <pid>); so does a\n" +
			"name revoked while held (an eventual name that lost a conflict) or a session lost.",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			sc, err := nf.parse()
			if err != nil {
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
			sess, b, err := registerName(cmd.Context(), sigc, c, f, "name register", name, sc, nf)
			if err != nil {
				return err
			}
			if err := printRegistered(p, b); err != nil {
				_ = sess.Close()
				return err
			}
			lost, stopWatch := watchName(sess, name)
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
			cerr := sess.Close()
			if why != "" {
				return fmt.Errorf("name register %q: %s", name, why)
			}
			if cerr != nil {
				return failed(fmt.Sprintf("name register %q: close session", name), cerr)
			}
			return nil
		},
	}
	nf.register(cmd.Flags())
	cmd.Flags().DurationVar(&hold, "hold", 0, "release after this long (0 = hold until SIGINT/SIGTERM)")
	return cmd
}

func newNameRunCmd(f *clientFlags, e env) *cobra.Command {
	var (
		nf        nameFlags
		killAfter time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run NAME [flags] -- CMD [ARGS...]",
		Short: "Run a command while holding a name",
		Long: "Register NAME, run CMD while holding it, then release it. CMD gets CONCLAVE_NAME\n" +
			"and CONCLAVE_SESSION_PID in its environment. If the name is revoked or the session\n" +
			"ends, CMD's process group gets SIGTERM (SIGKILL after --kill-after) and name run\n" +
			"exits 1 saying why; otherwise it exits with CMD's status.",
		Args: runArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, argv := args[0], args[1:]
			sc, err := nf.parse()
			if err != nil {
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
			sess, _, err := registerName(cmd.Context(), sigc, c, f, "name run", name, sc, nf)
			if err != nil {
				return err
			}
			child := exec.Command(argv[0], argv[1:]...)
			child.Env = append(os.Environ(), "CONCLAVE_NAME="+name, "CONCLAVE_SESSION_PID="+sess.PID())
			child.Stdin, child.Stdout, child.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := child.Start(); err != nil {
				_ = sess.Close()
				return fmt.Errorf("name run %q: %w", name, err)
			}
			r := &childRun{child: child, killAfter: killAfter, sigc: sigc}
			lost, stopWatch := watchName(sess, name)
			code, why := r.supervise(lost, fmt.Sprintf("name run %q", name))
			stopWatch()
			cerr := sess.Close()
			if why != "" {
				return exitError{1}
			}
			if cerr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "conclave: %s\n", oneLine(failed(fmt.Sprintf("name run %q: close session", name), cerr).Error()))
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	nf.register(cmd.Flags())
	cmd.Flags().DurationVar(&killAfter, "kill-after", defaultKillAfter, "after the name is lost, SIGKILL the command if it has not exited this long after SIGTERM")
	return cmd
}

// watchName reports, once, why name is no longer held: revoked, or the
// session ended. stop ends the watch and waits for its goroutine.
func watchName(sess *client.Session, name string) (lost <-chan string, stop func()) {
	out := make(chan string, 1)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		events := sess.Events()
		for {
			select {
			case <-quit:
				return
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				if ev.Kind == client.EventNameRevoked && ev.Name == name {
					out <- "name revoked: now owned by " + ev.Owner
					return
				}
			case <-sess.Done():
				out <- sessionEnded(sess)
				return
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() { close(quit) })
		wg.Wait()
	}
}

func newNameUnregisterCmd(f *clientFlags) *cobra.Command {
	var pid string
	cmd := &cobra.Command{
		Use:   "unregister NAME --pid PID",
		Short: "Unregister a name on behalf of the session that holds it",
		Long: "Unregister NAME for the session PID. Consistent and strong names from any agent;\n" +
			"local and eventual names only through the agent the session is connected to.",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if pid == "" {
				return fmt.Errorf("name unregister %q: --pid is required (the owner, as name lookup shows it)", name)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.Names().UnregisterPID(ctx, pid, name); err != nil {
					return failed(fmt.Sprintf("name unregister %q", name), err)
				}
				if p.json {
					return p.JSON(struct {
						Name         string `json:"name"`
						PID          string `json:"pid"`
						Unregistered bool   `json:"unregistered"`
					}{name, pid, true})
				}
				_, err := fmt.Fprintf(p.w, "unregistered %s (pid %s)\n", name, pid)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&pid, "pid", "", "the owning session's PID (<node>/<session-id>)")
	return cmd
}

func newNameLookupCmd(f *clientFlags) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "lookup NAME",
		Short: "Resolve a name: consistent and strong first, then eventual, then local",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				b, err := c.Names().Lookup(ctx, name, m)
				if err != nil {
					return failed(fmt.Sprintf("name lookup %q", name), err)
				}
				if p.json {
					return p.JSON(toBindingJSON(b))
				}
				return printBindings(p, []client.Binding{b})
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	return cmd
}

func newNameListCmd(f *clientFlags) *cobra.Command {
	var mode, scope string
	cmd := &cobra.Command{
		Use:   "list [PREFIX]",
		Short: "List the names with a prefix, by name (one row per scope a name is bound in)",
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
			sc, err := client.ParseScope(scope)
			if err != nil {
				return fmt.Errorf("invalid --scope %q: want all, local, eventual, consistent or strong", scope)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				bs, err := c.Names().List(ctx, prefix, sc, m)
				if err != nil {
					return failed(fmt.Sprintf("name list %q", prefix), err)
				}
				if p.json {
					out := make([]bindingJSON, 0, len(bs))
					for _, b := range bs {
						out = append(out, toBindingJSON(b))
					}
					return p.JSON(out)
				}
				return printBindings(p, bs)
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	cmd.Flags().StringVar(&scope, "scope", "all", "all, local, eventual, consistent or strong")
	return cmd
}

func newNameWatchCmd(f *clientFlags, e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch [PREFIX]",
		Short: "Print the names under a prefix, then every change, until interrupted",
		Long: "Print one line per binding under PREFIX (`bound NAME PID SCOPE`), a `synced` line,\n" +
			"then one line per change (`bound ...` / `unbound ...`) as the agent sees it, until\n" +
			"SIGINT/SIGTERM. With -o json, one JSON object per line.",
		Args: argNames("[PREFIX]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var prefix string
			if len(args) == 1 {
				prefix = args[0]
			}
			c, p, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			sigc := make(chan os.Signal, 1)
			defer e.notifySignals(sigc)()
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go func() {
				select {
				case <-sigc:
					cancel()
				case <-ctx.Done():
				}
			}()
			events, errf, err := c.Names().Watch(ctx, prefix)
			if err != nil {
				return failed(fmt.Sprintf("name watch %q", prefix), err)
			}
			for ev := range events {
				if err := printNameEvent(p, ev); err != nil {
					return err
				}
			}
			if err := errf(); err != nil {
				return failed(fmt.Sprintf("name watch %q", prefix), err)
			}
			return nil
		},
	}
	return cmd
}

func printNameEvent(p *printer, ev client.NameEvent) error {
	if p.json {
		type eventJSON struct {
			Event   string       `json:"event"`
			Binding *bindingJSON `json:"binding,omitempty"`
		}
		out := eventJSON{Event: ev.Kind.String()}
		if ev.Kind != client.NameSynced {
			b := toBindingJSON(ev.Binding)
			out.Binding = &b
		}
		return p.JSONLine(out)
	}
	if ev.Kind == client.NameSynced {
		_, err := fmt.Fprintln(p.w, "synced")
		return err
	}
	_, err := fmt.Fprintf(p.w, "%s %s %s %s\n", ev.Kind, displayValue([]byte(ev.Binding.Name)), ev.Binding.PID, ev.Binding.Scope)
	return err
}

// bindingJSON is the stable JSON shape of a binding.
type bindingJSON struct {
	Name         string  `json:"name"`
	PID          string  `json:"pid"`
	Scope        string  `json:"scope"`
	Metadata     string  `json:"metadata"`
	Index        uint64  `json:"index"`
	RegisteredAt *string `json:"registered_at"`
}

func toBindingJSON(b client.Binding) bindingJSON {
	return bindingJSON{Name: b.Name, PID: b.PID, Scope: b.Scope.String(), Metadata: string(b.Metadata),
		Index: b.Index, RegisteredAt: jsonTime(b.RegisteredAt)}
}

func printBindings(p *printer, bs []client.Binding) error {
	tw := p.table()
	fmt.Fprintln(tw, "NAME\tPID\tSCOPE\tMETADATA\tREGISTERED_AT")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", displayValue([]byte(b.Name)), b.PID, b.Scope,
			orDash(displayValue(b.Metadata)), tableTime(b.RegisteredAt))
	}
	return tw.Flush()
}

// printRegistered prints `registered NAME scope S pid P`.
func printRegistered(p *printer, b client.Binding) error {
	if p.json {
		return p.JSON(toBindingJSON(b))
	}
	_, err := fmt.Fprintf(p.w, "registered %s scope %s pid %s\n", displayValue([]byte(b.Name)), b.Scope, b.PID)
	return err
}
