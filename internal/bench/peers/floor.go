package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
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
	return floor{fsync: median(fs), rtt: median(rs)}, nil
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
	ping, pong := make([]byte, 64), make([]byte, 64)
	out := make([]time.Duration, 0, samples)
	for range samples {
		start := time.Now()
		if _, err := conn.Write(ping); err != nil {
			break
		}
		if _, err := io.ReadFull(conn, pong); err != nil {
			break
		}
		out = append(out, time.Since(start))
	}
	_ = conn.Close()
	<-echoed
	if len(out) < samples {
		return nil, fmt.Errorf("floor round trip: the loopback connection broke after %d samples", len(out))
	}
	return out, nil
}
