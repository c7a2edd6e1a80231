package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

// env is the process environment the commands may read, injected so tests
// do not depend on (or change) the real one.
type env struct {
	lookup func(string) (string, bool)
	// newNode builds the agent's node; nil means newClusterNode. Tests replace
	// it to run the agent loop against an in-memory node.
	newNode newNodeFunc
	// signals relays SIGINT and SIGTERM to c until stop is called; nil
	// means os/signal. Tests replace it to deliver signals of their own.
	signals func(c chan<- os.Signal) (stop func())
}

// notifySignals starts relaying SIGINT and SIGTERM to c.
func (e env) notifySignals(c chan<- os.Signal) (stop func()) {
	if e.signals != nil {
		return e.signals(c)
	}
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return func() { signal.Stop(c) }
}

// exitError makes run exit with code and print nothing: `lock run` passes
// on its command's exit status, and the command spoke for itself.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if cmd, err := root.ExecuteContextC(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintf(stderr, "conclave: %s\n", errorLine(explainFailure(cmd, err)))
		return 1
	}
	return 0
}

// oneLine folds a multi-line error (config validation joins one line per
// problem) so that a failure is always exactly one line on stderr.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}

func newRootCmd(e env) *cobra.Command {
	bi := readBuildInfo()
	root := &cobra.Command{
		Use:   "conclave",
		Short: "conclave cluster coordinator: agent and client commands",
		// --version prints what `conclave version` prints.
		Version: bi.Version,
		// We print the one-line error ourselves; usage on every failed
		// RPC would bury it.
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newAgentCmd(e),
		newMembersCmd(e),
		newRaftCmd(e),
		newKVCmd(e),
		newLockCmd(e),
		newSemCmd(e),
		newElectCmd(e),
		newNameCmd(e),
		newServiceCmd(e),
		newPGCmd(e),
		newLeaveCmd(e),
		newKeyringCmd(e),
		newACLCmd(e),
		newOperatorCmd(e),
		newSnapshotCmd(e),
		newTLSCmd(),
		newVersionCmd(bi),
	)
	root.SetVersionTemplate(bi.String())
	// Added now rather than by Execute, so that requireSubcommands covers
	// `completion` too.
	root.InitDefaultCompletionCmd()
	requireSubcommands(root)
	return root
}

// clientFlags are the flags every client verb shares.
type clientFlags struct {
	addr    string
	output  string
	timeout time.Duration
	tls     tlsFlags
	token   tokenFlags
}

const (
	// defaultAddr is where an agent's gRPC API listens by default (DESIGN §11).
	defaultAddr = "127.0.0.1:7940"
	// defaultTimeout bounds a client call: long enough for a write to ride
	// out a leader election, short enough that a dead agent is reported
	// rather than waited on.
	defaultTimeout = 10 * time.Second
)

// addClientFlags registers the shared flags on a verb group; persistent, so
// they go before or after the sub-verb alike.
func addClientFlags(cmd *cobra.Command, e env) *clientFlags {
	f := &clientFlags{addr: defaultAddr, output: "table"}
	if v, ok := e.lookup("CONCLAVE_ADDR"); ok && v != "" {
		f.addr = v
	}
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.addr, "addr", f.addr, "gRPC address of the agent (env CONCLAVE_ADDR)")
	fs.StringVarP(&f.output, "output", "o", f.output, "output format: table or json")
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "deadline for the whole call")
	f.tls.register(fs, e)
	f.token.register(fs, e)
	// The verb's ctx carries the flags, so run can explain a TLS failure
	// with the address and files the verb used (explainFailure).
	cmd.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		cmd.SetContext(withClientFlags(cmd.Context(), f))
	}
	return f
}

// call dials the agent, runs fn under the timeout and closes the
// connection. It also validates --output first, so a typo fails before any
// side effect (a put) happens.
func (f *clientFlags) call(cmd *cobra.Command, fn func(ctx context.Context, c *client.Client, p *printer) error) error {
	c, p, err := f.dial(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	return fn(ctx, c, p)
}

// dial validates the shared flags and makes a client for the agent (which
// connects on first use); for verbs whose calls do not fit one timeout.
// The caller closes the client.
func (f *clientFlags) dial(cmd *cobra.Command) (*client.Client, *printer, error) {
	p, err := newPrinter(cmd.OutOrStdout(), f.output)
	if err != nil {
		return nil, nil, err
	}
	if f.timeout <= 0 {
		return nil, nil, fmt.Errorf("invalid --timeout %s: must be > 0", f.timeout)
	}
	opts, err := f.tls.options()
	if err != nil {
		return nil, nil, err
	}
	tok, err := f.token.options()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(f.addr, append(opts, tok...)...)
	if err != nil {
		return nil, nil, err
	}
	return c, p, nil
}
