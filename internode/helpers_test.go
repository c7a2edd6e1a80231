package internode

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// waitFor polls cond until it holds or timeout passes, then fails the test.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// logBuffer collects a mesh's log lines and prints them only if the test
// fails. It is not t.Log: yamux's own goroutines may log a moment after
// Close returns, which t.Log turns into a panic.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLogger(t testing.TB) zerolog.Logger {
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mesh log:\n%s", lb.String())
		}
	})
	return zerolog.New(lb).Level(zerolog.DebugLevel).With().Timestamp().Logger()
}

// newMesh starts a mesh on 127.0.0.1 with an ephemeral port, closed when
// the test ends.
func newMesh(t testing.TB, mut func(*Config), opts ...Option) *Mesh {
	t.Helper()
	cfg := DefaultLocalConfig()
	if mut != nil {
		mut(&cfg)
	}
	m, err := New(cfg, append([]Option{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// echo replies with its request, or fails with the request's text after
// "fail:".
func echo(_ context.Context, req []byte) ([]byte, error) {
	if msg, ok := bytes.CutPrefix(req, []byte("fail:")); ok {
		return nil, errors.New(string(msg))
	}
	return req, nil
}

// gate is a WithDialGate function whose blocked set tests change.
type gate struct {
	mu      sync.Mutex
	blocked map[string]bool
	err     error
}

// errPartitioned is what every test gate returns for a blocked address.
var errPartitioned = errors.New("partitioned")

func newGate() *gate { return &gate{blocked: map[string]bool{}, err: errPartitioned} }

func (g *gate) check(addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocked[addr] {
		return g.err
	}
	return nil
}

func (g *gate) set(addr string, blocked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked[addr] = blocked
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func isNotSent(err error) bool { return errors.Is(err, ErrNotSent) }
