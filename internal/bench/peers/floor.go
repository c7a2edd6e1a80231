package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// floor is the physical floor of the machine, as internal/bench measures
// it: what one disk sync and one loopback round trip cost before any
// server code runs. A Raft commit pays at least one sync (hashicorp/raft:
// the leader's and then a follower's) and a round trip.
type floor struct {
	fsync time.Duration // p50 of a 4 KiB O_APPEND write + fdatasync
	rtt   time.Duration // p50 of a 64-byte TCP ping-pong on 127.0.0.1
	// hop is the p50 of the same ping-pong with the echo in another
	// process, each ping sent after hopIdle without traffic: what one
	// round trip between two of the servers costs when the receiver was
	// waiting, as on every hop of a single client's commit. On a virtual
	// machine it can cost several rtt (waking an idle virtual CPU).
	hop time.Duration
}

// hopIdle is the pause before each ping of the hop probe: about what a
// server waits between a single client's calls.
const hopIdle = time.Millisecond

// echoEnv, set to 1 in the environment, makes this binary the hop probe's
// echo process (echoMain) instead of the benchmark.
const echoEnv = "BENCH_PEERS_ECHO"

// String is the floor as the table prints it.
func (f floor) String() string {
	return fmt.Sprintf("4 KiB append + fdatasync p50 %s; loopback TCP round trip p50 %s (between two processes, after %s idle: p50 %s)",
		f.fsync.Round(time.Microsecond), f.rtt.Round(time.Microsecond), hopIdle, f.hop.Round(time.Microsecond))
}

// measureFloor takes samples of each probe, in dir (which must be on the
// filesystem of the data dirs, for the sync to mean anything).
func measureFloor(dir string, samples int) (floor, error) {
	fs, err := syncSamples(dir, samples)
	if err != nil {
		return floor{}, err
	}
	rs, err := rttSamples(samples)
	if err != nil {
		return floor{}, err
	}
	hs, err := hopSamples(samples)
	if err != nil {
		return floor{}, err
	}
	return floor{fsync: median(fs), rtt: median(rs), hop: median(hs)}, nil
}

func median(ds []time.Duration) time.Duration {
	m, _ := medianMax(ds)
	return m
}

// syncSamples appends 4 KiB blocks to a file in dir, each followed by
// fdatasync(2), which bbolt (under raft-boltdb) and etcd's WAL use on
// Linux.
func syncSamples(dir string, samples int) ([]time.Duration, error) {
	path := filepath.Join(dir, "floor.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("floor file: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	block := make([]byte, 4<<10)
	out := make([]time.Duration, 0, samples)
	for range samples {
		start := time.Now()
		if _, err := f.Write(block); err != nil {
			return nil, fmt.Errorf("floor append: %w", err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return nil, fmt.Errorf("floor sync: %w", err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// rttSamples sends 64 bytes over a loopback TCP connection and reads them
// back from an echo goroutine, which ends when the connection closes.
func rttSamples(samples int) ([]time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("floor listener: %w", err)
	}
	defer ln.Close()
	echoed := make(chan struct{})
	go func() {
		defer close(echoed)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.Copy(conn, conn)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("floor dial: %w", err)
	}
	out, err := pingPong(conn, samples, 0)
	_ = conn.Close()
	<-echoed
	if err != nil {
		return nil, fmt.Errorf("floor round trip: %w", err)
	}
	return out, nil
}

// pingPong times samples 64-byte writes to conn and their echoes, each
// after idle without traffic.
func pingPong(conn net.Conn, samples int, idle time.Duration) ([]time.Duration, error) {
	ping, pong := make([]byte, 64), make([]byte, 64)
	out := make([]time.Duration, 0, samples)
	for range samples {
		if idle > 0 {
			time.Sleep(idle)
		}
		start := time.Now()
		if _, err := conn.Write(ping); err != nil {
			return nil, fmt.Errorf("the loopback connection broke after %d samples: %w", len(out), err)
		}
		if _, err := io.ReadFull(conn, pong); err != nil {
			return nil, fmt.Errorf("the loopback connection broke after %d samples: %w", len(out), err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// hopSamples is rttSamples with the echo in a child process (this binary
// again, with echoEnv set) and hopIdle before each ping. The child ends
// when its standard input closes, so it never outlives this process.
func hopSamples(samples int) ([]time.Duration, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("floor hop: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), echoEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("floor hop: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("floor hop: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("floor hop: start the echo process: %w", err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("floor hop: the echo process gave no address: %w", err)
	}
	conn, err := net.Dial("tcp", strings.TrimSpace(addr))
	if err != nil {
		return nil, fmt.Errorf("floor hop: %w", err)
	}
	defer conn.Close()
	out, err := pingPong(conn, samples, hopIdle)
	if err != nil {
		return nil, fmt.Errorf("floor hop: %w", err)
	}
	return out, nil
}

// echoMain is the hop probe's echo process: it prints the address it
// listens on, echoes one connection, and exits when its standard input
// closes (the benchmark ended, on any path).
func echoMain() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println(ln.Addr().String())
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	_, _ = io.Copy(conn, conn)
	return nil
}
