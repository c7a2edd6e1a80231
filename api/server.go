package api

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	logger   zerolog.Logger
	registry *prometheus.Registry
	// grpcLn and httpLn, when set, are served instead of binding the
	// configured addresses.
	grpcLn, httpLn net.Listener
}

// WithLogger sets the parent logger; the server logs with component=api.
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegistry makes /metrics serve reg, and registers the API's own
// collectors on it, so the node's metrics (registered on the same registry
// by the caller) are scraped together with them. Without it the Server
// uses a fresh registry of its own, never the global default.
func WithRegistry(reg *prometheus.Registry) Option { return func(o *options) { o.registry = reg } }

// WithListeners makes the Server serve grpcLn and httpLn, bound by the
// caller, instead of binding cfg's GRPCAddr and HTTPAddr: a caller that
// must know and advertise its API addresses before the Server can exist
// (the node it serves starts first) binds them up front, so nobody can take
// them in between. The Server owns both from the call on: New closes them
// if it fails, and Close or the end of Serve closes them otherwise.
func WithListeners(grpcLn, httpLn net.Listener) Option {
	return func(o *options) { o.grpcLn, o.httpLn = grpcLn, httpLn }
}

// Server owns the gRPC and HTTP listeners of one node. New binds both, Serve
// serves until its ctx ends, Close stops at once; see Serve for who owns
// what.
type Server struct {
	cfg    Config
	log    zerolog.Logger
	grpc   *grpc.Server
	http   *http.Server
	grpcLn net.Listener
	httpLn net.Listener
	// streams are the Session streams, ended and waited for on stop.
	streams *streamSet

	mu      sync.Mutex
	serving bool
	closed  bool
}

// New validates cfg, binds both listeners (so a port in use fails here, and
// port 0 is resolved before anyone asks for the address; WithListeners
// hands it bound ones instead) and registers the
// metrics. It serves the services svcs has (see Services). It does not
// serve yet: call Serve, or Close to release the ports.
func New(cfg Config, svcs Services, opts ...Option) (_ *Server, err error) {
	o := options{logger: zerolog.Nop()}
	for _, opt := range opts {
		opt(&o)
	}
	defer func() {
		if err != nil {
			for _, ln := range []net.Listener{o.grpcLn, o.httpLn} {
				if ln != nil {
					_ = ln.Close()
				}
			}
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if svcs.Cluster == nil {
		return nil, errNoCluster
	}
	if (o.grpcLn == nil) != (o.httpLn == nil) {
		return nil, fmt.Errorf("%w: WithListeners needs both listeners", ErrInvalidConfig)
	}
	if o.registry == nil {
		o.registry = prometheus.NewRegistry()
	}
	log := o.logger.With().Str("component", "api").Logger()

	m, err := registerMetrics(o.registry, svcs.Cluster)
	if err != nil {
		return nil, err
	}

	g, err := newGuard(svcs.ACL, svcs.Cluster.Name(), log, o.registry)
	if err != nil {
		return nil, err
	}
	grpcOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgBytes),
		// The guard runs inside the accounting interceptor, so a refusal
		// is counted and timed like any answer, and before every handler.
		grpc.ChainUnaryInterceptor(unaryInterceptor(log, m), g.unary()),
		grpc.ChainStreamInterceptor(streamInterceptor(log, m), g.stream()),
		// A fixed window turns off grpc-go's bandwidth estimation, which
		// sends a PING for nearly every small request (see the SDK's
		// flowWindow); 1 MiB bounds what one stream may leave unread.
		grpc.InitialWindowSize(1 << 20), grpc.InitialConnWindowSize(1 << 20),
	}
	if cfg.TLS != nil {
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(cfg.TLS.ServerConfig(cfg.VerifyIncoming))))
	}
	gs := grpc.NewServer(grpcOpts...)
	streams := newStreamSet()
	registerServices(gs, svcs, log, streams, g)

	mux := http.NewServeMux()
	self := svcs.Cluster.Name()
	mux.Handle("GET /metrics", g.route(func(*http.Request) []need { return needs(acl.ResOperator, self, acl.Read) },
		promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{
			// A failing collector should not blank the whole scrape.
			ErrorHandling: promhttp.ContinueOnError,
		}).ServeHTTP))
	mux.Handle("GET /v1/health/live", healthHandler(svcs.Cluster, svcs.Health, log, false))
	mux.Handle("GET /v1/health/ready", healthHandler(svcs.Cluster, svcs.Health, log, true))
	rst := &rest{cluster: svcs.Cluster, kv: svcs.KV, ekv: svcs.EventualKV, locks: svcs.Locks,
		sems: svcs.Semaphores, elections: svcs.Elections, names: svcs.Names, groups: svcs.Groups,
		registry: svcs.Registry,
		log:      log, maxBody: int64(cfg.MaxRecvMsgBytes), guard: g}
	rst.routes(mux)
	if err := uiRoutes(mux); err != nil {
		return nil, err
	}
	grpcLn, httpLn := o.grpcLn, o.httpLn
	if grpcLn == nil {
		if grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
			return nil, fmt.Errorf("api: listen grpc_addr %s: %w", cfg.GRPCAddr, err)
		}
		if httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			_ = grpcLn.Close()
			return nil, fmt.Errorf("api: listen http_addr %s: %w", cfg.HTTPAddr, err)
		}
	}
	hs := &http.Server{
		Handler:           withTimeout(newHostGuard(g.http(muxErrors(mux, log)), httpLn.Addr(), cfg.AllowedHosts, log)),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ErrorLog:          stdlog.New(httpErrorLog{log}, "", 0),
	}
	if cfg.TLS != nil {
		hs.TLSConfig = cfg.TLS.ServerConfig(cfg.VerifyIncoming)
	}
	return &Server{cfg: cfg, log: log, grpc: gs, http: hs, grpcLn: grpcLn, httpLn: httpLn, streams: streams}, nil
}

// registerServices registers the gRPC service of every field svcs has; a
// client calling one it lacks gets Unimplemented from grpc itself.
func registerServices(gs *grpc.Server, svcs Services, log zerolog.Logger, streams *streamSet, g *guard) {
	pb.RegisterClusterServer(gs, &clusterService{node: svcs.Cluster, admit: svcs.Admit})
	if svcs.ACL != nil {
		pb.RegisterACLServer(gs, &aclService{node: svcs.ACL, log: log})
	}
	if svcs.Operator != nil {
		pb.RegisterOperatorServer(gs, &operatorService{node: svcs.Operator})
	}
	if svcs.KV != nil {
		pb.RegisterKVServer(gs, &kvService{node: svcs.KV, ekv: svcs.EventualKV, guard: g})
	}
	if svcs.Sessions != nil {
		pb.RegisterSessionServer(gs, &sessionService{node: svcs.Sessions, nodeName: svcs.Cluster.Name(), log: log, streams: streams,
			acl: svcs.ACL, guard: g})
	}
	if svcs.Locks != nil {
		pb.RegisterLockServer(gs, &lockService{node: svcs.Locks})
	}
	if svcs.Semaphores != nil {
		pb.RegisterSemaphoreServer(gs, &semaphoreService{node: svcs.Semaphores})
	}
	if svcs.Elections != nil {
		pb.RegisterElectionServer(gs, &electionService{node: svcs.Elections, streams: streams, guard: g})
	}
	if svcs.Names != nil {
		pb.RegisterNamesServer(gs, &namesService{node: svcs.Names, streams: streams, guard: g})
	}
	if svcs.Groups != nil {
		pb.RegisterGroupsServer(gs, &groupsService{node: svcs.Groups, streams: streams, guard: g})
	}
	if svcs.Registry != nil {
		pb.RegisterRegistryServer(gs, &registryService{node: svcs.Registry, streams: streams, guard: g})
	}
	if svcs.Keyring != nil {
		pb.RegisterKeyringServer(gs, &keyringService{node: svcs.Keyring})
	}
}

// GRPCAddr is the bound gRPC address (with the real port if cfg asked for 0).
func (s *Server) GRPCAddr() net.Addr { return s.grpcLn.Addr() }

// HTTPAddr is the bound HTTP address (with the real port if cfg asked for 0).
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// Serve serves gRPC and HTTP until ctx ends or either server fails, then
// stops both gracefully (session streams end at once with Unavailable, so
// their sessions release what they held; in-flight requests get
// cfg.ShutdownTimeout, after which connections are cut) and returns once
// both have stopped. It returns
// nil after ctx ended or Close was called, and the failure otherwise. Serve
// may be called once; the caller owns the goroutine that runs it.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.serving:
		s.mu.Unlock()
		return ErrServing
	}
	s.serving = true
	s.mu.Unlock()

	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.grpc.Serve(s.grpcLn); err != nil {
			errc <- fmt.Errorf("api: serve grpc: %w", err)
			return
		}
		errc <- nil
	}()
	go func() {
		defer wg.Done()
		if err := s.serveHTTP(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("api: serve http: %w", err)
			return
		}
		errc <- nil
	}()
	s.log.Debug().Str("grpc_addr", s.GRPCAddr().String()).Str("http_addr", s.HTTPAddr().String()).Msg("api serving")

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		// A server that stopped on its own (its listener failed) or
		// because Close ran: either way the other must stop too.
		if err != nil {
			s.log.Error().Err(err).Msg("api server failed")
		}
	}
	s.stop()
	wg.Wait()
	s.log.Debug().Msg("api stopped")
	return err
}

// serveHTTP serves HTTPS when the API has a TLS identity (the certificate
// comes from TLSConfig, hence no files here), plain HTTP otherwise.
func (s *Server) serveHTTP() error {
	if s.http.TLSConfig != nil {
		return s.http.ServeTLS(s.httpLn, "", "")
	}
	return s.http.Serve(s.httpLn)
}

// stop stops both servers gracefully within cfg.ShutdownTimeout, then
// forcibly.
func (s *Server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	// A session stream would otherwise hold GracefulStop for the whole
	// timeout: it never ends by itself.
	s.streams.stop()
	grpcDone := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(grpcDone)
	}()
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Warn().Err(err).Msg("http graceful stop timed out")
		_ = s.http.Close()
	}
	select {
	case <-grpcDone:
	case <-ctx.Done():
		s.log.Warn().Msg("grpc graceful stop timed out")
		s.grpc.Stop()
		<-grpcDone
	}
	// Serve closes the listeners it ran on, but a stop that raced Serve's
	// goroutines starting would leave them bound.
	_ = s.grpcLn.Close()
	_ = s.httpLn.Close()
	s.streams.wait()
}

// Close stops both servers at once, cutting in-flight requests, and
// releases the listeners. A running Serve returns nil soon after. Use it
// when Serve never ran or an immediate stop is wanted; otherwise end
// Serve's ctx for a graceful stop. Safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.streams.stop()
	s.grpc.Stop()
	_ = s.http.Close()
	_ = s.grpcLn.Close()
	_ = s.httpLn.Close()
	// Stop cancels the streams but does not wait for their handlers,
	// which still release their sessions (bounded by sessionCloseTimeout).
	s.streams.wait()
	return nil
}

// httpErrorLog routes net/http's own error lines into zerolog: a failed TLS
// handshake (no client certificate, a stranger's CA, a plain-text client)
// is the client's problem and goes to debug; anything else (a handler
// panic) is a warning.
type httpErrorLog struct{ log zerolog.Logger }

func (h httpErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		h.log.Debug().Str("error", msg).Msg("http tls handshake failed")
	} else {
		h.log.Warn().Str("error", msg).Msg("http server error")
	}
	return len(p), nil
}
