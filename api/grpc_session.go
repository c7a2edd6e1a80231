package api

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// sessionCloseTimeout bounds the release of a session whose stream ended:
// one Raft entry, which normally commits in milliseconds; without quorum
// the node keeps retrying in the background, so the handler need not wait
// out an election.
const sessionCloseTimeout = 5 * time.Second

// SessionNode is what the Session service needs of a node: a way to open
// sessions, handed out as the Session interface. OpenSessionFunc adapts a
// function (ServicesOf wraps *cluster.Node's OpenSession in one).
type SessionNode interface {
	// OpenSession opens a session with the keepalive ttl (0 = the node's
	// default); called once per Session.Connect stream. It may block while
	// the node is still releasing a previous incarnation's sessions. On
	// error the Session is nil.
	OpenSession(ctx context.Context, ttl time.Duration) (Session, error)
}

// OpenSessionFunc is a function as a SessionNode.
type OpenSessionFunc func(ctx context.Context, ttl time.Duration) (Session, error)

// OpenSession calls f.
func (f OpenSessionFunc) OpenSession(ctx context.Context, ttl time.Duration) (Session, error) {
	return f(ctx, ttl)
}

// Session is one open session as the Session service drives it: the
// methods of *cluster.Session it calls. The stream's handler goroutine
// reads Events and Done and calls Close; its receive goroutine calls
// Keepalive, concurrently. None of them blocks except Close.
type Session interface {
	// PID is "<node>/<session-id>", the holder named in locks.
	PID() string
	// TTL is the keepalive TTL in force.
	TTL() time.Duration
	// Events delivers what happens to the session's locks. The node never
	// blocks on it (it drops the oldest event when the buffer is full);
	// it may be closed when the session ends.
	Events() <-chan *cluster.SessionEvent
	// Done is closed when the session has ended, by Close, by its TTL
	// lapsing or by the node stopping.
	Done() <-chan struct{}
	// Keepalive restarts the TTL; must not block.
	Keepalive()
	// Close ends the session and releases everything it held; blocks
	// until that is committed or ctx ends. Calling it on an ended session
	// is harmless.
	Close(ctx context.Context) error
}

// sessionService implements conclave.v1.Session: one session per Connect
// stream, alive exactly as long as the stream (or until its TTL lapses).
type sessionService struct {
	pb.UnimplementedSessionServer
	node     SessionNode
	nodeName string // for the message of a stream the node ended
	log      zerolog.Logger
	streams  *streamSet
	// acl and guard end a session whose token is deleted or expires;
	// acl is nil when the API serves no ACLs.
	acl   ACLNode
	guard *guard
}

// Connect runs one session. The handler goroutine owns the sends (Opened,
// then the events) and the session's end; a receive goroutine, tracked by
// streams, turns every client message into a keepalive. gRPC cancels the
// stream's ctx when the handler returns, which ends that goroutine's Recv.
func (s *sessionService) Connect(stream pb.Session_ConnectServer) error {
	if !s.streams.add() {
		return errStopping
	}
	defer s.streams.done()
	ctx := stream.Context()

	first, err := stream.Recv()
	switch {
	case errors.Is(err, io.EOF):
		return invalidArgument("open", "the stream ended before open")
	case err != nil:
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return invalidArgument("open", "the first message must be open")
	}
	ttl, err := durationField("ttl", open.GetTtl())
	if err != nil {
		return err
	}
	sess, err := s.node.OpenSession(ctx, ttl)
	if err != nil {
		return statusError(err)
	}
	// The pid goes on each line rather than into a child logger: With
	// allocates a 500-byte context per session, kept while it lives.
	pid := sess.PID()
	s.log.Debug().Str("pid", pid).Dur("ttl", sess.TTL()).Msg("session stream opened")
	// The session carries the token that opened it: its own acts are
	// checked against it too, and it ends when the token is deleted or
	// expires.
	tok := s.sessionToken(ctx, sess.PID())
	defer tok.close()
	defer func() {
		// The stream's ctx is gone by now (or soon will be): the release
		// gets its own bounded one.
		cctx, cancel := context.WithTimeout(context.Background(), sessionCloseTimeout)
		defer cancel()
		if err := sess.Close(cctx); err != nil {
			s.log.Warn().Str("pid", pid).Err(err).Msg("close session")
		}
	}()

	// last is when the client last spoke, to tell a lapsed TTL from a
	// session the node ended for another reason.
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	if err := stream.Send(&pb.SessionResponse{Kind: &pb.SessionResponse_Opened{Opened: &pb.SessionOpened{
		Pid: sess.PID(), Ttl: durationpb.New(sess.TTL()),
	}}}); err != nil {
		return err
	}
	if !s.streams.add() {
		return errStopping
	}
	received := make(chan error, 1)
	go func() {
		defer s.streams.done()
		received <- receiveKeepalives(stream, sess, &last)
	}()

	events := sess.Events()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil // the session ended; Done says so next
				continue
			}
			if err := stream.Send(sessionEventToPB(ev)); err != nil {
				return err
			}
		case <-sess.Done():
			// Events queued before the end (a lock lost with the
			// session) still reach the client, ahead of the status.
			if err := flushEvents(stream, events); err != nil {
				return err
			}
			if silent := time.Since(time.Unix(0, last.Load())); silent >= sess.TTL() {
				s.log.Debug().Str("pid", pid).Dur("silent", silent).Msg("session expired")
				return status.Errorf(codes.Aborted, "session %s expired (no keepalive for %s)", sess.PID(), sess.TTL())
			}
			return status.Errorf(codes.Unavailable, "session %s ended by node %s", sess.PID(), s.nodeName)
		case err := <-received:
			if errors.Is(err, io.EOF) {
				// The client closed its side: a clean end. The deferred
				// Close releases everything before the client sees it.
				return nil
			}
			return err
		case <-s.streams.stopping():
			return errStopping
		case <-tok.changed:
			if tok.valid() {
				tok.rearm()
				continue
			}
			s.log.Info().Str("pid", pid).Str("audit", "acl").Str("accessor", tok.accessor).Msg("session ended: its token was deleted or has expired")
			// The node tells a session nothing of a release it asked for
			// itself (the session has ended by then), so the locks it held
			// are read first and reported lost here.
			held := heldLocks(sess)
			cctx, cancel := context.WithTimeout(context.Background(), sessionCloseTimeout)
			err := sess.Close(cctx)
			cancel()
			if err != nil {
				s.log.Warn().Str("pid", pid).Err(err).Msg("close session")
			}
			// What was queued before the end, then the locks lost with
			// the session, reach the client ahead of the status.
			if err := flushEvents(stream, events); err != nil {
				return err
			}
			if err := sendLost(stream, held, "released: "+errTokenGone.Error()); err != nil {
				return err
			}
			return status.Errorf(codes.PermissionDenied, "session %s ended: %v", sess.PID(), errTokenGone)
		}
	}
}

// sessionTok follows the token a session was opened with: changed fires at
// every change of the ACLs and when the token expires, and valid says
// whether the token still stands. With ACLs off (or no token) changed
// never fires.
type sessionTok struct {
	accessor string
	changed  <-chan struct{}
	valid    func() bool
	rearm    func()
	close    func()
}

func (s *sessionService) sessionToken(ctx context.Context, pid string) *sessionTok {
	a := authzFrom(ctx)
	t := &sessionTok{accessor: a.AccessorID, valid: func() bool { return true }, rearm: func() {}, close: func() {}}
	if s.acl == nil || !s.acl.Enabled() || a.AccessorID == "" {
		return t
	}
	secret, _ := secretOf(ctx)
	s.guard.sessionOpened(pid, secret)
	ch := make(chan struct{}, 1)
	stop := make(chan struct{})
	fire := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	// The expiry timer is set again at every re-arm: one that fired early
	// (the clock stepped) is not lost. Only the handler's goroutine arms
	// and stops it.
	var timer *time.Timer
	armTimer := func() {
		exp := s.acl.Expiry(a.AccessorID)
		if exp.IsZero() {
			return
		}
		d := time.Until(exp) + 10*time.Millisecond
		if timer == nil {
			timer = time.AfterFunc(d, fire)
			return
		}
		timer.Reset(d)
	}
	var wg sync.WaitGroup
	var arm func()
	arm = func() {
		armTimer()
		changed := s.acl.Changed()
		// Re-read after subscribing: a change between the open and the
		// subscription is not missed.
		if !s.acl.Valid(a.AccessorID) {
			select {
			case ch <- struct{}{}:
			default:
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-changed:
				select {
				case ch <- struct{}{}:
				default:
				}
			case <-stop:
			}
		}()
	}
	arm()
	t.changed = ch
	t.valid = func() bool { return s.acl.Valid(a.AccessorID) }
	t.rearm = arm
	t.close = func() {
		close(stop)
		if timer != nil {
			timer.Stop()
		}
		wg.Wait()
		s.guard.sessionClosed(pid)
	}
	return t
}

// receiveKeepalives reads the client's messages until the stream ends;
// every one restarts the session's TTL. A second open is a protocol error
// that ends the stream.
func receiveKeepalives(stream pb.Session_ConnectServer, sess Session, last *atomic.Int64) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		last.Store(time.Now().UnixNano())
		if msg.GetOpen() != nil {
			return invalidArgument("open", "session %s is already open on this stream", sess.PID())
		}
		// Keepalive, or a kind this server does not know yet: either way
		// the client is alive.
		sess.Keepalive()
	}
}

// heldLocks is what sess holds, by lock name with its fencing token, when
// it can tell (*cluster.Session can; the tests' fakes need not).
func heldLocks(sess Session) map[string]uint64 {
	if h, ok := sess.(interface{ Held() map[string]uint64 }); ok {
		return h.Held()
	}
	return nil
}

// sendLost sends a lock_lost event for every lock in held, in name order.
func sendLost(stream pb.Session_ConnectServer, held map[string]uint64, detail string) error {
	for _, name := range slices.Sorted(maps.Keys(held)) {
		ev := cluster.SessionEvent{Kind: cluster.EventLockLost, Lock: name, Token: held[name], Detail: detail}
		if err := stream.Send(sessionEventToPB(&ev)); err != nil {
			return err
		}
	}
	return nil
}

// flushEvents sends the events already buffered, without waiting for more.
func flushEvents(stream pb.Session_ConnectServer, events <-chan *cluster.SessionEvent) error {
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if err := stream.Send(sessionEventToPB(ev)); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

func sessionEventToPB(ev *cluster.SessionEvent) *pb.SessionResponse {
	kind := pb.SessionEvent_KIND_UNSPECIFIED
	switch ev.Kind {
	case cluster.EventLockGranted:
		kind = pb.SessionEvent_LOCK_GRANTED
	case cluster.EventLockAtRisk:
		kind = pb.SessionEvent_LOCK_AT_RISK
	case cluster.EventLockSafe:
		kind = pb.SessionEvent_LOCK_SAFE
	case cluster.EventLockLost:
		kind = pb.SessionEvent_LOCK_LOST
	case cluster.EventNameRevoked:
		kind = pb.SessionEvent_NAME_REVOKED
	case cluster.EventGroupMessage:
		kind = pb.SessionEvent_GROUP_MESSAGE
	}
	return &pb.SessionResponse{Kind: &pb.SessionResponse_Event{Event: &pb.SessionEvent{
		Kind: kind, Lock: ev.Lock, Token: ev.Token, Detail: ev.Detail,
		Name: ev.Name, Owner: ev.Owner, Scope: ev.Scope, Group: ev.Group, From: ev.From, Payload: ev.Payload,
	}}}
}

// errStopping ends the streams of a server that is stopping: the client
// should reconnect, to this node once it is back or to another.
var errStopping = status.Error(codes.Unavailable, "api: server is stopping")

// streamSet tracks the goroutines of long-lived streams (the handlers and
// their receive goroutines), so that a stopping Server can end the streams
// and wait for all of them: grpc's Stop does not wait for handlers, and a
// receive goroutine outlives its handler by a moment.
type streamSet struct {
	mu     sync.Mutex
	closed bool
	n      int // goroutines running, for tests and debugging
	wg     sync.WaitGroup
	quit   chan struct{}
}

func newStreamSet() *streamSet { return &streamSet{quit: make(chan struct{})} }

// add registers one goroutine; false once the set is closed.
func (s *streamSet) add() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.n++
	s.wg.Add(1)
	return true
}

func (s *streamSet) done() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
	s.wg.Done()
}

// running is how many stream goroutines have not finished.
func (s *streamSet) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// stopping is closed when the server starts to stop.
func (s *streamSet) stopping() <-chan struct{} { return s.quit }

// stop tells every stream to end and refuses new ones. Safe to call more
// than once.
func (s *streamSet) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.quit)
	}
}

// wait returns once every registered goroutine has finished; call after
// stop.
func (s *streamSet) wait() { s.wg.Wait() }
