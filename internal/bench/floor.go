package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const (
	// fsyncBlock is one append: the size of a small Raft entry batch.
	fsyncBlock = 4 << 10
	// pingBytes is one ping-pong message: the size of a small request.
	pingBytes = 64
)

// Floor is the physical floor of this machine: what a disk sync and a
// loopback round trip cost before any conclave code runs. Every Raft
// commit pays at least one sync on the leader (followers sync in parallel)
// and a forwarded call pays several round trips.
type Floor struct {
	Fsync Summary // 4 KiB O_APPEND write + fdatasync
	RTT   Summary // 64-byte TCP ping-pong on 127.0.0.1
}

// Prober measures the floor, one sample per call. It owns a file in the
// directory it was given, a loopback listener, and the goroutine that
// echoes on it; Close releases all three. Its methods are not safe for
// concurrent use.
type Prober struct {
	f     *os.File
	ln    net.Listener
	conn  net.Conn
	block []byte
	ping  []byte
	pong  []byte
	wg    sync.WaitGroup
}

// NewProber creates the append file in dir (which must be on the disk the
// cluster's data dirs use, for the sync to mean anything) and connects a
// loopback TCP pair.
func NewProber(dir string) (*Prober, error) {
	f, err := os.OpenFile(filepath.Join(dir, "floor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bench: floor file: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("bench: floor listener: %w", err)
	}
	p := &Prober{f: f, ln: ln, block: make([]byte, fsyncBlock), ping: make([]byte, pingBytes), pong: make([]byte, pingBytes)}
	for i := range p.block {
		p.block[i] = byte(i)
	}
	p.wg.Add(1)
	go p.echo()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("bench: floor dial: %w", err)
	}
	p.conn = conn
	return p, nil
}

// echo serves the one connection NewProber dials: it returns every
// message until the connection closes.
func (p *Prober) echo() {
	defer p.wg.Done()
	conn, err := p.ln.Accept()
	if err != nil {
		return // Close ran before the dial
	}
	defer conn.Close()
	buf := make([]byte, pingBytes)
	for {
		if _, err := io.ReadFull(conn, buf); err != nil {
			return
		}
		if _, err := conn.Write(buf); err != nil {
			return
		}
	}
}

// Fsync appends one 4 KiB block and waits for it to reach the disk.
func (p *Prober) Fsync() (time.Duration, error) {
	start := time.Now()
	if _, err := p.f.Write(p.block); err != nil {
		return 0, fmt.Errorf("bench: floor append: %w", err)
	}
	if err := datasync(p.f); err != nil {
		return 0, fmt.Errorf("bench: floor sync: %w", err)
	}
	return time.Since(start), nil
}

// RoundTrip sends 64 bytes over loopback TCP and reads the echo.
func (p *Prober) RoundTrip() (time.Duration, error) {
	start := time.Now()
	if _, err := p.conn.Write(p.ping); err != nil {
		return 0, fmt.Errorf("bench: floor ping: %w", err)
	}
	if _, err := io.ReadFull(p.conn, p.pong); err != nil {
		return 0, fmt.Errorf("bench: floor pong: %w", err)
	}
	return time.Since(start), nil
}

// Close closes the file and the connections and waits for the echo
// goroutine.
func (p *Prober) Close() error {
	var errs []error
	if p.conn != nil {
		errs = append(errs, p.conn.Close())
	}
	errs = append(errs, p.ln.Close(), p.f.Close())
	p.wg.Wait()
	return errors.Join(errs...)
}

// MeasureFloor takes samples of each probe, syncs first and round trips
// after, so neither disturbs the other.
func MeasureFloor(dir string, samples int) (Floor, error) {
	p, err := NewProber(dir)
	if err != nil {
		return Floor{}, err
	}
	defer p.Close()
	syncs := make([]time.Duration, 0, samples)
	rtts := make([]time.Duration, 0, samples)
	for range samples {
		d, err := p.Fsync()
		if err != nil {
			return Floor{}, err
		}
		syncs = append(syncs, d)
	}
	for range samples {
		d, err := p.RoundTrip()
		if err != nil {
			return Floor{}, err
		}
		rtts = append(rtts, d)
	}
	return Floor{Fsync: Summarize(syncs), RTT: Summarize(rtts)}, nil
}
