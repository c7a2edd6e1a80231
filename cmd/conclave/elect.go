package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

func newElectCmd(e env) *cobra.Command {
	var (
		ttl time.Duration
		f   *clientFlags // set below, before any RunE
	)
	cmd := &cobra.Command{
		Use:   "elect NAME VALUE",
		Short: "Campaign in an election, print when leading, and lead until interrupted",
		Long: "Open a session and campaign in the election NAME with VALUE: wait (in FIFO order\n" +
			"behind earlier candidates) until this session leads, print\n" +
			"`leading NAME token N pid P`, and lead until SIGINT/SIGTERM, then resign and exit 0.\n" +
			"Exits 1 if the session ends while leading (leadership is lost with it).\n" +
			"`conclave elect observe NAME` follows who leads.",
		Args: argNames("NAME", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, value := args[0], args[1]
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
			octx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			sess, err := c.Session(octx, client.WithTTL(ttl))
			cancel()
			if err != nil {
				return failed(fmt.Sprintf("elect %q", name), err)
			}
			defer sess.Close()
			// Campaigning blocks until we lead: a signal withdraws.
			cctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go func() {
				select {
				case <-sigc:
					cancel()
				case <-cctx.Done():
				}
			}()
			l, err := sess.Campaign(cctx, name, []byte(value))
			if err != nil {
				if cctx.Err() != nil {
					return fmt.Errorf("elect %q: interrupted", name)
				}
				return failed(fmt.Sprintf("elect %q", name), err)
			}
			if p.json {
				err = p.JSON(struct {
					Name  string `json:"name"`
					Token uint64 `json:"token"`
					PID   string `json:"pid"`
				}{name, l.Token(), sess.PID()})
			} else {
				_, err = fmt.Fprintf(p.w, "leading %s token %d pid %s\n", name, l.Token(), sess.PID())
			}
			if err != nil {
				return err
			}
			select {
			case <-cctx.Done():
			case <-l.Lost():
				return fmt.Errorf("elect %q: leadership lost: %s", name, sessionEnded(sess))
			}
			rctx, rcancel := context.WithTimeout(context.Background(), f.timeout)
			defer rcancel()
			if err := l.Resign(rctx); err != nil {
				return failed(fmt.Sprintf("elect %q: resign", name), err)
			}
			return nil
		},
	}
	f = addClientFlags(cmd, e)
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "session TTL: leadership ends when the agent hears nothing for this long (0 = agent default, 10s)")
	cmd.AddCommand(newElectObserveCmd(f, e), newElectLeaderCmd(f))
	return cmd
}

func newElectObserveCmd(f *clientFlags, e env) *cobra.Command {
	return &cobra.Command{
		Use:   "observe NAME",
		Short: "Print the election's leader now and at every change, until interrupted",
		Long: "Print one line for the election's current state and one for every change of leader\n" +
			"or value, in order: `leader PID token N value V` or `no leader`. -o json prints one\n" +
			"JSON object a line. Runs until SIGINT/SIGTERM.",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
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
			err = c.Elections().Observe(ctx, name, func(st client.ElectionState) error { return printElection(p, st) })
			if err != nil {
				return failed(fmt.Sprintf("elect observe %q", name), err)
			}
			return nil
		},
	}
}

func newElectLeaderCmd(f *clientFlags) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "leader NAME",
		Short: "Print the election's current leader, value and candidates",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				st, err := c.Elections().Leader(ctx, name, m)
				if err != nil {
					return failed(fmt.Sprintf("elect leader %q", name), err)
				}
				return printElection(p, st)
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	return cmd
}

func printElection(p *printer, st client.ElectionState) error {
	if p.json {
		return p.JSON(struct {
			Name       string   `json:"name"`
			Leader     string   `json:"leader"`
			Token      uint64   `json:"token"`
			Value      string   `json:"value"`
			Rev        uint64   `json:"rev"`
			Candidates []string `json:"candidates,omitempty"`
		}{st.Name, st.Leader, st.Token, string(st.Value), st.Rev, st.Candidates})
	}
	var err error
	if st.Leader == "" {
		_, err = fmt.Fprintf(p.w, "%s: no leader\n", st.Name)
	} else {
		_, err = fmt.Fprintf(p.w, "%s: leader %s token %d value %s\n", st.Name, st.Leader, st.Token, displayValue(st.Value))
	}
	return err
}
