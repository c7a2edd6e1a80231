package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

func newPGCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pg",
		Short: "Process groups: join, leave, broadcast, list and monitor",
		Long: "Process groups (Erlang pg style): sessions join named groups; a broadcast reaches\n" +
			"every member on every node. Groups need no Raft quorum. join holds a session that is\n" +
			"a member until interrupted and prints every message the group receives.",
	}
	f := addClientFlags(cmd, e)
	var scope string
	cmd.PersistentFlags().StringVar(&scope, "scope", "", "the groups' scope (default: the agent's default scope, \"default\")")
	cmd.AddCommand(newPGJoinCmd(f, e, &scope), newPGLeaveCmd(f, &scope), newPGBroadcastCmd(f, &scope),
		newPGMembersCmd(f, &scope), newPGGroupsCmd(f, &scope), newPGMonitorCmd(f, e, &scope))
	return cmd
}

func newPGJoinCmd(f *clientFlags, e env, scope *string) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "join GROUP",
		Short: "Join a group and print every message it receives, until interrupted",
		Long: "Open a session on the agent, join GROUP, and print every message broadcast to the\n" +
			"group, one per line (its payload; -o json adds the sender), until SIGINT/SIGTERM:\n" +
			"then leave and exit 0. Exits 1 if the session ends (the agent went away).",
		Args: argNames("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if ttl < 0 {
				return fmt.Errorf("invalid --ttl %s: must not be negative", ttl)
			}
			c, p, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			sigc := make(chan os.Signal, 1)
			defer e.notifySignals(sigc)()

			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			sess, err := c.Session(ctx, client.WithTTL(ttl))
			if err == nil {
				if err = sess.Join(ctx, group, client.InScope(*scope)); err != nil {
					_ = sess.Close()
				}
			}
			cancel()
			if err != nil {
				return failed(fmt.Sprintf("pg join %q", group), err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "joined %s as %s\n", group, sess.PID())
			events := sess.Events()
			for {
				select {
				case <-sigc:
					return leaveAndClose(f.timeout, group, *scope, sess)
				case <-cmd.Context().Done():
					return leaveAndClose(f.timeout, group, *scope, sess)
				case ev, ok := <-events:
					if !ok {
						return fmt.Errorf("pg join %q: %s", group, sessionEnded(sess))
					}
					if ev.Kind != client.EventGroupMessage || ev.Group != group {
						continue
					}
					if err := printGroupMessage(p, ev); err != nil {
						_ = sess.Close()
						return err
					}
				}
			}
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "session TTL: the membership ends when the agent hears nothing for this long (0 = agent default, 10s)")
	return cmd
}

// leaveAndClose leaves the group and closes the session (closing alone
// would end the membership too; the leave comes first so a failure shows).
func leaveAndClose(timeout time.Duration, group, scope string, sess *client.Session) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := sess.Leave(ctx, group, client.InScope(scope))
	cerr := sess.Close()
	if err != nil {
		return failed(fmt.Sprintf("pg join %q: leave", group), err)
	}
	if cerr != nil {
		return failed(fmt.Sprintf("pg join %q: close session", group), cerr)
	}
	return nil
}

func printGroupMessage(p *printer, ev client.SessionEvent) error {
	if p.json {
		// One compact object per line, so a reader can stream them.
		_, err := fmt.Fprintf(p.w, `{"scope":%s,"group":%s,"from":%s,"payload":%s}`+"\n",
			strconv.Quote(ev.Scope), strconv.Quote(ev.Group), strconv.Quote(ev.From), strconv.Quote(string(ev.Payload)))
		return err
	}
	_, err := fmt.Fprintln(p.w, displayValue(ev.Payload))
	return err
}

func newPGLeaveCmd(f *clientFlags, scope *string) *cobra.Command {
	var pid string
	cmd := &cobra.Command{
		Use:   "leave GROUP --pid PID",
		Short: "Remove a session open on the agent from a group",
		Args:  argNames("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if pid == "" {
				return fmt.Errorf("pg leave %q: --pid is required (the member's session, as pg members shows it)", group)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.Groups().Leave(ctx, pid, group, client.InScope(*scope)); err != nil {
					return failed(fmt.Sprintf("pg leave %q", group), err)
				}
				if p.json {
					return p.JSON(struct {
						Group string `json:"group"`
						PID   string `json:"pid"`
						Left  bool   `json:"left"`
					}{group, pid, true})
				}
				_, err := fmt.Fprintf(p.w, "left %s (pid %s)\n", group, pid)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&pid, "pid", "", "the member session's PID (<node>/<session-id>)")
	return cmd
}

func newPGBroadcastCmd(f *clientFlags, scope *string) *cobra.Command {
	var local bool
	cmd := &cobra.Command{
		Use:   "broadcast GROUP MESSAGE",
		Short: "Send a message to every member of a group",
		Args:  argNames("GROUP", "MESSAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				opts := []client.GroupOption{client.InScope(*scope)}
				if local {
					opts = append(opts, client.LocalOnly())
				}
				r, err := c.Groups().Broadcast(ctx, group, []byte(args[1]), opts...)
				if err != nil {
					return failed(fmt.Sprintf("pg broadcast %q", group), err)
				}
				if p.json {
					return p.JSON(struct {
						Group     string `json:"group"`
						Nodes     int    `json:"nodes"`
						Members   int    `json:"members"`
						Unreached int    `json:"unreached"`
					}{group, r.Nodes, r.Members, r.Unreached})
				}
				line := fmt.Sprintf("sent to %d members on %d nodes", r.Members, r.Nodes)
				if r.Unreached > 0 {
					line += fmt.Sprintf(" (%d nodes unreachable)", r.Unreached)
				}
				_, err = fmt.Fprintln(p.w, line)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&local, "local", false, "deliver only to the agent's own members")
	return cmd
}

func newPGMembersCmd(f *clientFlags, scope *string) *cobra.Command {
	var local bool
	cmd := &cobra.Command{
		Use:   "members GROUP",
		Short: "List a group's members (PID and node)",
		Args:  argNames("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				opts := []client.GroupOption{client.InScope(*scope)}
				if local {
					opts = append(opts, client.LocalOnly())
				}
				ms, err := c.Groups().Members(ctx, group, opts...)
				if err != nil {
					return failed(fmt.Sprintf("pg members %q", group), err)
				}
				if p.json {
					type member struct {
						PID  string `json:"pid"`
						Node string `json:"node"`
					}
					out := make([]member, 0, len(ms))
					for _, m := range ms {
						out = append(out, member{m.PID, m.Node})
					}
					return p.JSON(out)
				}
				tw := p.table()
				fmt.Fprintln(tw, "PID\tNODE")
				for _, m := range ms {
					fmt.Fprintf(tw, "%s\t%s\n", m.PID, m.Node)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&local, "local", false, "only the agent's own members")
	return cmd
}

func newPGGroupsCmd(f *clientFlags, scope *string) *cobra.Command {
	return &cobra.Command{
		Use:   "groups",
		Short: "List the groups of the scope that have members",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				gs, err := c.Groups().List(ctx, client.InScope(*scope))
				if err != nil {
					return failed("pg groups", err)
				}
				if p.json {
					type group struct {
						Scope        string `json:"scope"`
						Group        string `json:"group"`
						Members      int    `json:"members"`
						LocalMembers int    `json:"local_members"`
					}
					out := make([]group, 0, len(gs))
					for _, g := range gs {
						out = append(out, group{g.Scope, g.Group, g.Members, g.LocalMembers})
					}
					return p.JSON(out)
				}
				tw := p.table()
				fmt.Fprintln(tw, "SCOPE\tGROUP\tMEMBERS\tLOCAL")
				for _, g := range gs {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", g.Scope, displayValue([]byte(g.Group)), g.Members, g.LocalMembers)
				}
				return tw.Flush()
			})
		},
	}
}

func newPGMonitorCmd(f *clientFlags, e env, scope *string) *cobra.Command {
	return &cobra.Command{
		Use:   "monitor GROUP",
		Short: "Print a group's members, then every join and leave, until interrupted",
		Long: "Print the group's current members (`member <PID>`), then one line per event as the\n" +
			"agent learns of it (`join <PID>` / `leave <PID>`), until SIGINT/SIGTERM. With -o json,\n" +
			"one object per line: {\"event\": \"member\"|\"join\"|\"leave\", \"pid\": ..., \"node\": ...}.",
		Args: argNames("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			c, p, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			sigc := make(chan os.Signal, 1)
			defer e.notifySignals(sigc)()
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			// --timeout bounds the start of the watch, not the watch.
			timer := time.AfterFunc(f.timeout, cancel)
			m, err := c.Groups().Monitor(ctx, group, client.InScope(*scope))
			if stopped := timer.Stop(); err != nil || !stopped {
				if err == nil {
					m.Close()
					err = context.DeadlineExceeded
				}
				return failed(fmt.Sprintf("pg monitor %q", group), err)
			}
			defer m.Close()
			for _, mem := range m.Members() {
				if err := printMonitorLine(p, "member", mem); err != nil {
					return err
				}
			}
			for {
				select {
				case <-sigc:
					return nil
				case ev, ok := <-m.Events():
					if !ok {
						if err := m.Err(); err != nil {
							return failed(fmt.Sprintf("pg monitor %q", group), err)
						}
						return nil
					}
					kind := "leave"
					if ev.Joined {
						kind = "join"
					}
					if err := printMonitorLine(p, kind, ev.Member); err != nil {
						return err
					}
				}
			}
		},
	}
}

func printMonitorLine(p *printer, kind string, m client.GroupMember) error {
	if p.json {
		_, err := fmt.Fprintf(p.w, `{"event":%q,"pid":%s,"node":%s}`+"\n", kind, strconv.Quote(m.PID), strconv.Quote(m.Node))
		return err
	}
	_, err := fmt.Fprintf(p.w, "%s %s\n", kind, m.PID)
	return err
}
