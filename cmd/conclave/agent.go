package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
	"github.com/conclave-dev/conclave/internal/pki"
)

// shutdownTimeout bounds the node's graceful stop on SIGINT/SIGTERM
// (leadership hand-off, gossip leave, store flush); a supervisor's own kill
// timeout is usually longer, so we exit on our own terms.
const shutdownTimeout = 30 * time.Second

// agentNode is the lifecycle of the agent's node; what the API serves of it
// comes beside it, as api.Services (see newNodeFunc).
type agentNode interface {
	Shutdown(ctx context.Context) error
	Done() <-chan struct{}
}

// newNodeFunc builds the agent's node and the services the API serves of
// it.
type newNodeFunc func(cfg config.Config, opts ...cluster.Option) (agentNode, api.Services, error)

// newClusterNode is the real node: cluster.New, served whole.
func newClusterNode(cfg config.Config, opts ...cluster.Option) (agentNode, api.Services, error) {
	n, err := cluster.New(cfg, opts...)
	if err != nil {
		return nil, api.Services{}, err
	}
	return n, api.ServicesOf(n), nil
}

// agentFlags are the agent's command-line settings. Overrides apply only
// when the flag was given, so an unset flag never clobbers the file.
type agentFlags struct {
	configPath      string
	dev             bool
	name            string
	dataDir         string
	failureDomain   string
	bind            string
	bindPort        int
	advertise       string
	join            []string
	bootstrapExpect int
	grpcAddr        string
	httpAddr        string
	logLevel        string
	logFormat       string
}

func newAgentCmd(e env) *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent --config FILE | --dev",
		Short: "Run a conclave node",
		Long: "Run a conclave node: gossip, Raft, and the gRPC and HTTP APIs.\n" +
			"Flags override the config file. --dev runs a single self-bootstrapping node on\n" +
			"loopback with a throwaway data dir (removed at exit) unless --data-dir is given.",
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cleanup, err := buildConfig(cmd.Flags(), f)
			if err != nil {
				return err
			}
			defer cleanup()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			newNode := e.newNode
			if newNode == nil {
				newNode = newClusterNode
			}
			logOut := cmd.ErrOrStderr()
			return runAgent(ctx, stop, cfg, newNode, logOut, colorOK(logOut, e.lookup))
		},
	}
	f.register(cmd.Flags())
	return cmd
}

// register defines the agent's flags on fs, bound to f.
func (f *agentFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.configPath, "config", "", "YAML config file")
	fs.BoolVar(&f.dev, "dev", false, "development mode: one node, loopback, throwaway data dir")
	fs.StringVar(&f.name, "name", "", "node name (cluster.name)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (cluster.data_dir)")
	fs.StringVar(&f.failureDomain, "failure-domain", "", "failure domain (cluster.failure_domain)")
	fs.StringVar(&f.bind, "bind", "", "gossip bind IP (cluster.membership.bind_addr)")
	fs.IntVar(&f.bindPort, "bind-port", 0, "gossip port (cluster.membership.bind_port)")
	fs.StringVar(&f.advertise, "advertise", "", "gossip advertise address (cluster.membership.advertise_addr)")
	fs.StringSliceVar(&f.join, "join", nil, "seed address; repeatable or comma-separated (cluster.membership.join_addrs)")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "nodes to wait for before bootstrapping (cluster.raft.bootstrap_expect)")
	fs.StringVar(&f.grpcAddr, "grpc-addr", "", "gRPC API address (api.grpc_addr)")
	fs.StringVar(&f.httpAddr, "http-addr", "", "HTTP address (api.http_addr)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (log.level)")
	fs.StringVar(&f.logFormat, "log-format", "", "json or console (log.format)")
}

// buildConfig loads the file (or the dev defaults), applies the flags given
// on the command line, makes the dev throwaway data dir and validates. The
// returned cleanup removes that dir; it is never nil.
func buildConfig(fs *pflag.FlagSet, f agentFlags) (config.Config, func(), error) {
	noop := func() {}
	var cfg config.Config
	switch {
	case f.configPath != "":
		var err error
		if cfg, err = config.Load(f.configPath); err != nil {
			return config.Config{}, noop, err
		}
	case f.dev:
		cfg = config.Dev()
	default:
		return config.Config{}, noop, errors.New("agent: --config FILE or --dev is required")
	}

	set := fs.Changed
	if set("name") {
		cfg.Cluster.Name = f.name
	}
	if set("data-dir") {
		cfg.Cluster.DataDir = f.dataDir
	}
	if set("failure-domain") {
		cfg.Cluster.FailureDomain = f.failureDomain
	}
	if set("bind") {
		cfg.Cluster.Membership.BindAddr = f.bind
	}
	if set("bind-port") {
		cfg.Cluster.Membership.BindPort = f.bindPort
	}
	if set("advertise") {
		cfg.Cluster.Membership.AdvertiseAddr = f.advertise
	}
	if set("join") {
		cfg.Cluster.Membership.JoinAddrs = config.StringList(f.join)
	}
	if set("bootstrap-expect") {
		cfg.Cluster.Raft.BootstrapExpect = f.bootstrapExpect
	}
	if set("grpc-addr") {
		cfg.API.GRPCAddr = f.grpcAddr
	}
	if set("http-addr") {
		cfg.API.HTTPAddr = f.httpAddr
	}
	if set("log-level") {
		cfg.Log.Level = f.logLevel
	}
	if set("log-format") {
		cfg.Log.Format = f.logFormat
	}

	// --dev means throwaway state, with or without a file; --data-dir is
	// how to keep it.
	cleanup := noop
	if f.dev && !set("data-dir") {
		dir, err := os.MkdirTemp("", "conclave-dev-")
		if err != nil {
			return config.Config{}, noop, fmt.Errorf("agent: dev data dir: %w", err)
		}
		cfg.Cluster.DataDir = dir
		cleanup = func() { _ = os.RemoveAll(dir) }
	}
	if err := errors.Join(cfg.Validate(), cfg.CheckExposure()); err != nil {
		cleanup()
		return config.Config{}, noop, err
	}
	return cfg, cleanup, nil
}

// newLogger builds the agent's root logger from log.level and log.format;
// the console format has colours only when color is set (colorOK).
func newLogger(c config.LogConfig, w io.Writer, color bool) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		return zerolog.Nop(), fmt.Errorf("log.level %q: want debug, info, warn or error", c.Level)
	}
	out := w
	switch c.Format {
	case "json":
	case "console":
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !color}
	default:
		return zerolog.Nop(), fmt.Errorf("log.format %q: want json or console", c.Format)
	}
	return zerolog.New(out).Level(lvl).Hook(millisTime{}), nil
}

// millisTime stamps every line with a millisecond UTC time. zerolog's own
// Timestamp() takes its format from a package global (whole seconds by
// default); a hook keeps the agent free of global settings.
type millisTime struct{}

func (millisTime) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

// runAgent starts the node and its API and runs until ctx ends (a signal),
// the node stops by itself (after a leave), or the API fails. stopSignals
// is called as soon as a signal arrives so that a second Ctrl-C kills the
// process instead of waiting out a stuck shutdown.
func runAgent(ctx context.Context, stopSignals func(), cfg config.Config,
	newNode newNodeFunc, logOut io.Writer, logColor bool) error {
	base, err := newLogger(cfg.Log, logOut, logColor)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	// The node adds node=<name> to its own lines; everything else here
	// gets it from this child, so no line lacks it or has it twice.
	log := base.With().Str("node", cfg.Cluster.Name).Logger()

	// The API's TLS identity is read before the node starts, so a missing
	// or mismatched file fails the start rather than a running node.
	apiCfg := api.DefaultConfig()
	apiCfg.GRPCAddr, apiCfg.HTTPAddr = cfg.API.GRPCAddr, cfg.API.HTTPAddr
	apiCfg.AllowedHosts = cfg.API.HTTPAllowedHosts
	if cfg.TLS.Enabled() {
		src, err := pki.Load(pki.Files{CA: cfg.TLS.CAFile, Cert: cfg.TLS.CertFile, Key: cfg.TLS.KeyFile})
		if err != nil {
			return fmt.Errorf("agent: tls: %w", err)
		}
		apiCfg.TLS, apiCfg.VerifyIncoming = src, cfg.TLS.VerifyIncoming
	}

	reg := prometheus.NewRegistry()
	bi := readBuildInfo()
	if err := reg.Register(bi.collector()); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	node, svcs, err := newNode(cfg, cluster.WithLogger(base), cluster.WithRegisterer(reg))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	shutdownNode := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := node.Shutdown(sctx); err != nil {
			return fmt.Errorf("agent: shutdown: %w", err)
		}
		return nil
	}

	srv, err := api.New(apiCfg, svcs, api.WithLogger(log), api.WithRegistry(reg))
	if err != nil {
		return errors.Join(fmt.Errorf("agent: %w", err), shutdownNode())
	}
	// The DNS interface reads the node's registry replica; it stops
	// first, before the node it reads.
	dnsSrv, err := startAgentDNS(cfg, dnsRegistryOf(node), log, reg)
	if err != nil {
		return errors.Join(fmt.Errorf("agent: %w", err), srv.Close(), shutdownNode())
	}
	defer func() { _ = dnsSrv.Stop() }()
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx) }()
	started := log.Info().Str("grpc_addr", srv.GRPCAddr().String()).Str("http_addr", srv.HTTPAddr().String())
	if dnsSrv != nil {
		started = started.Str("dns_addr", dnsSrv.Addr())
	}
	started.Bool("tls", apiCfg.TLS != nil).Bool("verify_incoming", apiCfg.VerifyIncoming).
		Str("data_dir", cfg.Cluster.DataDir).Str("version", bi.Version).Str("commit", bi.commitLabel()).
		Msg("agent started")

	var result error
	select {
	case <-ctx.Done():
		stopSignals()
		log.Info().Msg("signal received, shutting down")
		result = errors.Join(dnsSrv.Stop(), shutdownNode())
		// The node goes first so in-flight calls see a clean
		// Unavailable; the API goes once there is nothing left to serve.
		stopServing()
		<-served
	case <-node.Done():
		// Left (or stopped) by itself: stop the API gracefully so the
		// Leave call that caused this still gets its answer.
		log.Info().Msg("node stopped, shutting down api")
		result = dnsSrv.Stop()
		stopServing()
		<-served
	case <-dnsSrv.Done():
		err := dnsSrv.Stop()
		if err == nil {
			err = errors.New("dns stopped unexpectedly")
		}
		result = errors.Join(fmt.Errorf("agent: %w", err), shutdownNode())
		stopServing()
		<-served
	case err := <-served:
		if err == nil {
			err = errors.New("api stopped unexpectedly")
		}
		result = errors.Join(fmt.Errorf("agent: %w", err), dnsSrv.Stop(), shutdownNode())
	}
	if result != nil {
		log.Error().Err(result).Msg("agent stopped with error")
		return result
	}
	log.Info().Msg("agent stopped")
	return nil
}
