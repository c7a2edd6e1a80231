package raftcore

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// dialScript is a raft.StreamLayer whose dials fail with errs in turn, then
// succeed.
type dialScript struct {
	raft.StreamLayer
	errs  []error
	dials int
}

func (d *dialScript) Dial(raft.ServerAddress, time.Duration) (net.Conn, error) {
	d.dials++
	if len(d.errs) > 0 {
		err := d.errs[0]
		d.errs = d.errs[1:]
		return nil, err
	}
	c, _ := net.Pipe()
	return c, nil
}

func refused() error {
	return fmt.Errorf("internode: dial: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
}

// TestPatientDial: a refused dial is tried again until it succeeds or the
// wait is over; any other error ends the dial at once.
func TestPatientDial(t *testing.T) {
	never := make(chan struct{})
	d := &dialScript{errs: []error{refused(), refused(), refused()}}
	p := patientStreams{StreamLayer: d, wait: time.Minute, retry: time.Millisecond, done: never}
	conn, err := p.Dial("a", time.Minute)
	if err != nil || d.dials != 4 {
		t.Fatalf("three refusals then a stream: %v after %d dials, want a stream after 4", err, d.dials)
	}
	conn.Close()

	other := errors.New("tls: bad certificate")
	d = &dialScript{errs: []error{other, refused()}}
	p.StreamLayer = d
	if _, err := p.Dial("a", time.Minute); !errors.Is(err, other) || d.dials != 1 {
		t.Fatalf("a non-refusal: %v after %d dials, want it back after 1", err, d.dials)
	}

	d = &dialScript{errs: make([]error, 1000)}
	for i := range d.errs {
		d.errs[i] = refused()
	}
	p = patientStreams{StreamLayer: d, wait: 20 * time.Millisecond, retry: time.Millisecond, done: never}
	if _, err := p.Dial("a", time.Minute); !errors.Is(err, syscall.ECONNREFUSED) || d.dials >= 1000 {
		t.Fatalf("refused throughout: %v after %d dials, want the refusal once the wait is over", err, d.dials)
	}

	stopped := make(chan struct{})
	close(stopped)
	d = &dialScript{errs: []error{refused(), refused()}}
	p = patientStreams{StreamLayer: d, wait: time.Minute, retry: time.Minute, done: stopped}
	if _, err := p.Dial("a", time.Minute); !errors.Is(err, syscall.ECONNREFUSED) || d.dials != 1 {
		t.Fatalf("shut down while refused: %v after %d dials, want the refusal after 1", err, d.dials)
	}
}
