package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conclave-dev/conclave/api/client"
)

func newServiceCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Register, list, show and watch service instances",
		Long: "Register, list, show and watch the instances of services in the registry. An\n" +
			"instance is held by a session: register and run open one on the agent and keep the\n" +
			"instance while they run; when they exit (or lose the agent for longer than --ttl)\n" +
			"it is removed. The agent the session is open on runs the instance's checks\n" +
			"(--check-http, --check-tcp, --check-grpc); an instance without checks is passing.",
	}
	f := addClientFlags(cmd, e)
	cmd.AddCommand(newServiceRegisterCmd(f, e), newServiceRunCmd(f, e), newServiceDeregisterCmd(f),
		newServiceListCmd(f), newServiceShowCmd(f), newServiceWatchCmd(f, e))
	return cmd
}

// serviceFlags are the registration and session settings of register and
// run.
type serviceFlags struct {
	id, endpoint, protocol, typ         string
	tags, groups, meta                  []string
	checkHTTP, checkTCP, checkGRPC      string
	checkInterval, checkTimeout, ttl    time.Duration
	successesBeforePassing, failsBefore int
}

func (sf *serviceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&sf.id, "id", "", "instance ID, unique within the service (default: the session's PID)")
	fs.StringVar(&sf.endpoint, "endpoint", "", "HOST:PORT clients reach the instance on (required)")
	fs.StringVar(&sf.protocol, "protocol", "", "grpc, http, https, tcp or udp (default tcp)")
	fs.StringVar(&sf.typ, "type", "", "free-form kind of instance (e.g. worker)")
	fs.StringArrayVar(&sf.tags, "tag", nil, "a tag (repeatable)")
	fs.StringArrayVar(&sf.groups, "group", nil, "a group the instance is in (repeatable)")
	fs.StringArrayVar(&sf.meta, "meta", nil, "KEY=VALUE metadata (repeatable)")
	fs.StringVar(&sf.checkHTTP, "check-http", "", "health check: GET this URL; 2xx passes, 429 warns, anything else fails")
	fs.StringVar(&sf.checkTCP, "check-tcp", "", "health check: a TCP connect to HOST:PORT passes")
	fs.StringVar(&sf.checkGRPC, "check-grpc", "", "health check: the gRPC health protocol on HOST:PORT; SERVING passes")
	fs.DurationVar(&sf.checkInterval, "check-interval", 0, "time between check runs (0 = agent default)")
	fs.DurationVar(&sf.checkTimeout, "check-timeout", 0, "bound of one check run (0 = agent default)")
	fs.IntVar(&sf.successesBeforePassing, "check-successes", 0, "consecutive successes before passing (0 = 1)")
	fs.IntVar(&sf.failsBefore, "check-failures", 0, "consecutive failures before critical (0 = 1)")
	fs.DurationVar(&sf.ttl, "ttl", 0, "session TTL: the instance is removed when the agent hears nothing for this long (0 = agent default, 10s)")
}

// registration builds the registration of service from the flags,
// refusing what is plainly wrong before anything is sent.
func (sf serviceFlags) registration(service string) (client.Registration, error) {
	r := client.Registration{Service: service, ID: sf.id, Endpoint: sf.endpoint, Protocol: sf.protocol,
		Type: sf.typ, Tags: sf.tags, Groups: sf.groups}
	if sf.endpoint == "" {
		return r, fmt.Errorf("--endpoint is required (HOST:PORT clients reach the instance on)")
	}
	if sf.ttl < 0 {
		return r, fmt.Errorf("invalid --ttl %s: must not be negative", sf.ttl)
	}
	for _, kv := range sf.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return r, fmt.Errorf("invalid --meta %q: want KEY=VALUE", kv)
		}
		if r.Meta == nil {
			r.Meta = map[string]string{}
		}
		r.Meta[k] = v
	}
	for _, c := range []struct {
		kind   client.CheckKind
		target string
	}{{client.CheckHTTP, sf.checkHTTP}, {client.CheckTCP, sf.checkTCP}, {client.CheckGRPC, sf.checkGRPC}} {
		if c.target == "" {
			continue
		}
		r.Checks = append(r.Checks, client.Check{Kind: c.kind, Target: c.target, Interval: sf.checkInterval,
			Timeout: sf.checkTimeout, SuccessesBeforePassing: sf.successesBeforePassing, FailuresBeforeCritical: sf.failsBefore})
	}
	if len(r.Checks) == 0 && (sf.checkInterval != 0 || sf.checkTimeout != 0) {
		return r, fmt.Errorf("--check-interval and --check-timeout need a check (--check-http, --check-tcp or --check-grpc)")
	}
	return r, nil
}

// registerService opens a session and registers r for it, under
// --timeout; a signal on sigc gives up. On failure nothing stays open.
func registerService(parent context.Context, sigc <-chan os.Signal, c *client.Client, f *clientFlags,
	verb string, r client.Registration, ttl time.Duration) (*client.Session, client.Instance, error) {
	return takeInterruptibly(parent, sigc, f.timeout, verb, r.Service,
		func(ctx context.Context) (*client.Session, client.Instance, error) {
			sess, err := c.Session(ctx, client.WithTTL(ttl))
			if err != nil {
				return nil, client.Instance{}, err
			}
			in, err := sess.RegisterService(ctx, r)
			if err != nil {
				_ = sess.Close()
				return nil, client.Instance{}, err
			}
			return sess, in, nil
		})
}

// watchSession reports, once, that the session ended. stop ends the
// watch and waits for its goroutine.
func watchSession(sess *client.Session) (lost <-chan string, stop func()) {
	out := make(chan string, 1)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-quit:
		case <-sess.Done():
			out <- sessionEnded(sess)
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() { close(quit) })
		wg.Wait()
	}
}

func newServiceRegisterCmd(f *clientFlags, e env) *cobra.Command {
	var (
		sf   serviceFlags
		hold time.Duration
	)
	cmd := &cobra.Command{
		Use:   "register NAME --endpoint HOST:PORT",
		Short: "Register an instance and hold it until interrupted (or for --hold)",
		Long: "Register an instance of service NAME for a new session, print it, and hold it until\n" +
			"SIGINT/SIGTERM or until --hold passes; then remove it and exit 0. A refused\n" +
			"registration exits 1 with the gRPC code and the field at fault; so does a session\n" +
			"lost while held.",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := sf.registration(args[0])
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
			sess, in, err := registerService(cmd.Context(), sigc, c, f, "service register", r, sf.ttl)
			if err != nil {
				return err
			}
			if err := printServiceRegistered(p, in); err != nil {
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
			cerr := sess.Close()
			if why != "" {
				return fmt.Errorf("service register %q: %s", r.Service, why)
			}
			if cerr != nil {
				return failed(fmt.Sprintf("service register %q: close session", r.Service), cerr)
			}
			return nil
		},
	}
	sf.register(cmd.Flags())
	cmd.Flags().DurationVar(&hold, "hold", 0, "remove the instance after this long (0 = hold until SIGINT/SIGTERM)")
	return cmd
}

func newServiceRunCmd(f *clientFlags, e env) *cobra.Command {
	var (
		sf        serviceFlags
		killAfter time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run NAME --endpoint HOST:PORT [flags] -- CMD [ARGS...]",
		Short: "Run a command while registered as an instance of a service",
		Long: "Register an instance of service NAME, run CMD while it is registered, then remove\n" +
			"it. CMD gets CONCLAVE_SERVICE, CONCLAVE_SERVICE_ID, CONCLAVE_SERVICE_ENDPOINT and\n" +
			"CONCLAVE_SESSION_PID in its environment, and this command's stdin, stdout and\n" +
			"stderr. SIGINT and SIGTERM are passed on to CMD's process group. If the session\n" +
			"ends, CMD's group gets SIGTERM (SIGKILL after --kill-after) and service run exits 1\n" +
			"saying why; otherwise it exits with CMD's status (128+N if signal N ended it).",
		Args: runArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, argv := args[0], args[1:]
			r, err := sf.registration(name)
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
			sess, in, err := registerService(cmd.Context(), sigc, c, f, "service run", r, sf.ttl)
			if err != nil {
				return err
			}
			child := exec.Command(argv[0], argv[1:]...)
			child.Env = append(os.Environ(), "CONCLAVE_SERVICE="+name, "CONCLAVE_SERVICE_ID="+in.ID,
				"CONCLAVE_SERVICE_ENDPOINT="+in.Endpoint, "CONCLAVE_SESSION_PID="+sess.PID())
			child.Stdin, child.Stdout, child.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := child.Start(); err != nil {
				_ = sess.Close()
				return fmt.Errorf("service run %q: %w", name, err)
			}
			cr := &childRun{child: child, killAfter: killAfter, sigc: sigc}
			lost, stopWatch := watchSession(sess)
			code, why := cr.supervise(lost, fmt.Sprintf("service run %q", name))
			stopWatch()
			// Closing the session removes the instance.
			cerr := sess.Close()
			if why != "" {
				return exitError{1}
			}
			if cerr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "conclave: %s\n", oneLine(failed(fmt.Sprintf("service run %q: close session", name), cerr).Error()))
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	sf.register(cmd.Flags())
	cmd.Flags().DurationVar(&killAfter, "kill-after", defaultKillAfter, "after the session is lost, SIGKILL the command if it has not exited this long after SIGTERM")
	return cmd
}

func newServiceDeregisterCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "deregister NAME ID",
		Short: "Remove an instance of a service, whoever registered it",
		Args:  argNames("NAME", "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, id := args[0], args[1]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.Registry().Deregister(ctx, name, id); err != nil {
					return failed(fmt.Sprintf("service deregister %q %q", name, id), err)
				}
				if p.json {
					return p.JSON(struct {
						Service      string `json:"service"`
						ID           string `json:"id"`
						Deregistered bool   `json:"deregistered"`
					}{name, id, true})
				}
				_, err := fmt.Fprintf(p.w, "deregistered %s %s\n", name, id)
				return err
			})
		},
	}
}
