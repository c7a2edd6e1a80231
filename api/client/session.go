package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

const (
	// sessionEventBuffer events wait for the application; beyond that the
	// oldest are dropped, so an application that never reads Events does
	// not stall the session (Lock.Lost works regardless).
	sessionEventBuffer = 64
	// sessionCloseTimeout bounds how long Close waits for the agent to
	// confirm the release (the agent bounds it to 5 s itself); after it
	// the stream is cut, which the agent also takes as the session's end.
	sessionCloseTimeout = 10 * time.Second
	// fallbackKeepalive is used if an agent ever answers without a TTL.
	fallbackKeepalive = time.Second
)

// SessionOption configures Client.Session.
type SessionOption func(*sessionOptions)

type sessionOptions struct{ ttl time.Duration }

// WithTTL sets the session's keepalive TTL: the agent ends the session
// when it hears nothing for this long. The default (and 0) is the agent's
// (10 s); it accepts 1 s to 24 h. The Session sends a keepalive every TTL/3.
func WithTTL(d time.Duration) SessionOption { return func(o *sessionOptions) { o.ttl = d } }

// Session is an open session on the agent: the holder of locks. It lives
// until Close, until the connection to the agent is lost for longer than
// its TTL, or until the agent ends it; when it ends, the agent releases
// everything it held.
//
// A Session runs two goroutines, both finished when Done is closed and
// Close has returned: one reads the stream (delivering events to Events and
// to the Locks' Lost channels), one sends a keepalive every TTL/3. Its
// methods are safe for concurrent use.
type Session struct {
	locks     pb.LockClient
	sems      pb.SemaphoreClient
	elections pb.ElectionClient
	names     pb.NamesClient
	groups    pb.GroupsClient
	registry  pb.RegistryClient
	stream    pb.Session_ConnectClient
	cancel    context.CancelFunc // cuts the stream
	pid       string
	ttl       time.Duration
	events    chan SessionEvent
	done      chan struct{}
	wg        sync.WaitGroup

	// sendMu serialises the stream's sends (keepalives, CloseSend):
	// gRPC allows one sender at a time.
	sendMu     sync.Mutex
	sendClosed bool

	mu      sync.Mutex
	err     error // why the session ended; set before done closes
	closing bool  // Close was called
	cutOff  bool  // Close gave up waiting and cut the stream
	held    map[string]*Lock
	// lost remembers, for a lock not (yet) registered in held, the
	// highest token a lost/at-risk event named: the event can overtake the
	// Acquire response that registers the Lock.
	lost map[string]uint64
}

// Session opens a session on the agent. ctx bounds only the opening; the
// session itself lives until Close (or until it ends).
func (c *Client) Session(ctx context.Context, opts ...SessionOption) (*Session, error) {
	var o sessionOptions
	for _, opt := range opts {
		opt(&o)
	}
	sctx, cancel := context.WithCancel(context.Background())
	stopWatch := context.AfterFunc(ctx, cancel)
	fail := func(err error) (*Session, error) {
		cancel()
		if !stopWatch() && ctx.Err() != nil {
			// Our ctx ended the handshake: report that, not the
			// stream's Canceled.
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, err
	}
	stream, err := c.sessions.Connect(sctx)
	if err != nil {
		return fail(err)
	}
	open := &pb.SessionOpen{}
	if o.ttl != 0 {
		// A negative TTL goes out as is for the agent to reject with
		// InvalidArgument naming the field.
		open.Ttl = durationpb.New(o.ttl)
	}
	// A failed Send reports only io.EOF; the status comes from Recv.
	if err := stream.Send(&pb.SessionRequest{Kind: &pb.SessionRequest_Open{Open: open}}); err != nil && !errors.Is(err, io.EOF) {
		return fail(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		return fail(err)
	}
	opened := resp.GetOpened()
	if opened == nil {
		return fail(fmt.Errorf("client: session: the agent answered open with %T", resp.GetKind()))
	}
	if !stopWatch() {
		return fail(status.FromContextError(ctx.Err()).Err())
	}
	s := &Session{
		locks:     c.locks.c,
		sems:      c.sems.c,
		elections: c.elect.c,
		names:     c.names.c,
		groups:    c.groups.c,
		registry:  c.registry.c,
		stream:    stream,
		cancel:    cancel,
		pid:       opened.GetPid(),
		ttl:       opened.GetTtl().AsDuration(),
		events:    make(chan SessionEvent, sessionEventBuffer),
		done:      make(chan struct{}),
		held:      map[string]*Lock{},
		lost:      map[string]uint64{},
	}
	s.wg.Add(2)
	go s.receive()
	go s.keepalive(sctx)
	return s, nil
}

// PID is the session's process ID, "<node>/<session-id>".
func (s *Session) PID() string { return s.pid }

// TTL is the keepalive TTL in force (the agent's default if none was asked).
func (s *Session) TTL() time.Duration { return s.ttl }

// Events delivers what happens to the session's locks. It is closed when
// the session ends. Reading it is optional: when 64 events wait, the
// oldest is dropped.
func (s *Session) Events() <-chan SessionEvent { return s.events }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended: nil while it is open and after Close;
// otherwise the agent's status, for example Aborted when the TTL lapsed
// ("session <pid> expired ...") or Unavailable when the agent stopped or
// the connection was lost.
func (s *Session) Err() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the session: the agent releases everything it held, and Close
// returns once the agent has confirmed that (or after a bound of 10 s, when
// it cuts the stream, which ends the session too). It returns nil then,
// or why the session had already ended (see Err). Safe to call more than
// once and concurrently.
func (s *Session) Close() error {
	s.mu.Lock()
	first := !s.closing
	s.closing = true
	s.mu.Unlock()
	if first {
		s.sendMu.Lock()
		s.sendClosed = true
		// The half-close is the clean "I am done": the agent closes the
		// session and then ends the stream with OK.
		_ = s.stream.CloseSend()
		s.sendMu.Unlock()
	}
	timer := time.NewTimer(sessionCloseTimeout)
	defer timer.Stop()
	select {
	case <-s.done:
	case <-timer.C:
		s.mu.Lock()
		s.cutOff = true
		s.mu.Unlock()
		s.cancel()
		<-s.done
	}
	s.wg.Wait()
	return s.Err()
}

// receive reads the stream until it ends, then ends the session.
func (s *Session) receive() {
	defer s.wg.Done()
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			s.finish(err)
			return
		}
		if ev := resp.GetEvent(); ev != nil {
			s.dispatch(sessionEventFromPB(ev))
		}
		// Anything else is a response kind this SDK does not know yet.
	}
}

// finish records why the session ended, marks every Lock lost and closes
// Events and Done. Only receive calls it, once.
func (s *Session) finish(err error) {
	s.mu.Lock()
	switch {
	case errors.Is(err, io.EOF) && s.closing:
		err = nil // the agent confirmed our Close
	case errors.Is(err, io.EOF):
		err = fmt.Errorf("%w: the agent ended session %s", ErrSessionEnded, s.pid)
	case s.cutOff:
		err = fmt.Errorf("%w: the agent did not confirm closing session %s within %s", ErrSessionEnded, s.pid, sessionCloseTimeout)
	case s.closing && status.Code(err) == codes.Canceled:
		err = nil // Close raced the client's connection closing
	}
	s.err = err
	held := s.held
	s.held, s.lost = nil, nil
	s.mu.Unlock()
	for _, l := range held {
		l.markLost()
	}
	s.cancel() // stops the keepalives
	close(s.events)
	close(s.done)
}

// dispatch routes one event to the Lock it names and to Events.
func (s *Session) dispatch(ev SessionEvent) {
	if ev.Kind == EventLockLost || ev.Kind == EventLockAtRisk {
		s.mu.Lock()
		if l := s.held[ev.Lock]; l != nil && (ev.Token == 0 || ev.Token == l.token) {
			delete(s.held, ev.Lock)
			l.markLost()
		} else if l == nil && ev.Token > s.lost[ev.Lock] {
			s.lost[ev.Lock] = ev.Token
		}
		s.mu.Unlock()
	}
	for {
		select {
		case s.events <- ev:
			return
		default:
		}
		// Full: drop the oldest (only this goroutine sends).
		select {
		case <-s.events:
		default:
		}
	}
}

// keepalive sends a keepalive every TTL/3 until ctx (the stream's) ends.
func (s *Session) keepalive(ctx context.Context) {
	defer s.wg.Done()
	every := s.ttl / 3
	if every <= 0 {
		every = fallbackKeepalive
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	msg := &pb.SessionRequest{Kind: &pb.SessionRequest_Keepalive{Keepalive: &pb.SessionKeepalive{}}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		s.sendMu.Lock()
		var err error
		if !s.sendClosed {
			err = s.stream.Send(msg)
		}
		s.sendMu.Unlock()
		if err != nil {
			return // the stream is gone; receive reports why
		}
	}
}

// register records a granted lock so events can reach it; it returns the
// existing Lock when the session re-acquired a lock it holds.
func (s *Session) register(name string, token uint64) (*Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		// Granted, but the session ended meanwhile, and with it the grant.
		return nil, fmt.Errorf("%w: lock %q: session %s ended", ErrSessionEnded, name, s.pid)
	}
	if l := s.held[name]; l != nil && l.token == token {
		return l, nil
	}
	l := &Lock{s: s, name: name, token: token, lost: make(chan struct{})}
	if t, ok := s.lost[name]; ok {
		delete(s.lost, name)
		if t >= token {
			l.markLost()
			return l, nil
		}
	}
	s.held[name] = l
	return l, nil
}

func (s *Session) unregister(l *Lock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[l.name] == l {
		delete(s.held, l.name)
	}
}
