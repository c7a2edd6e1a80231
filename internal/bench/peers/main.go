// Command peers is the peer benchmark behind `make bench-peers`: it runs the
// same workloads, with the same client counts, against three etcd members
// and then three conclave agents, each system as real processes on
// 127.0.0.1 with its default timings and driven through its own Go client,
// never both at once, and prints one table with the ratio of the two and
// the machine's physical floor measured in the same run.
//
// With -faults it runs a seeded fault schedule instead (kill -9, pause,
// isolate one member at a time) under KV and lock clients, on etcd and
// then on conclave, and prints the longest time without a successful
// call: see faults.go.
//
// It is a module of its own so that conclave never depends on etcd. The
// servers it starts are killed on every exit path: see procs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(echoEnv) == "1" {
		if err := echoMain(); err != nil {
			fmt.Fprintln(os.Stderr, "bench-peers echo:", err)
			os.Exit(1)
		}
		return
	}
	var (
		s        settings
		etcdBin  = flag.String("etcd", "bin/peers-etcd", "the etcd member binary (built from ./etcdserver)")
		conclave = flag.String("conclave", "bin/conclave", "the conclave binary")
		parent   = flag.String("dir", os.TempDir(), "where to create the temporary directory for data dirs and logs")
	)
	flag.DurationVar(&s.duration, "duration", 5*time.Second, "measured time of each throughput workload")
	flag.DurationVar(&s.warmup, "warmup", time.Second, "unmeasured time before each throughput workload's measurement")
	flag.IntVar(&s.kills, "kills", 5, "kill -9 of the leader, per system (in its first run)")
	flag.IntVar(&s.rounds, "rounds", 2, "runs of each system, alternated etcd, conclave, conclave, etcd, ...; each figure is the median of its runs")
	only := flag.String("only", "", "run only the rows whose name matches this regular expression (\"kill\" selects the kill rows); for quick comparisons of two builds")
	systems := flag.String("systems", "etcd,conclave", "which systems the table runs, comma-separated (the fault schedule always runs both)")
	flag.IntVar(&s.clients, "clients", 16, "clients of the multi-client workloads")
	flag.DurationVar(&s.opTimeout, "op-timeout", 10*time.Second, "bound on one client call; a call that fails fails the run")
	flag.DurationVar(&s.killWrite, "kill-write-timeout", 250*time.Millisecond, "bound on one write of the kill -9 writer, which retries at once (etcd holds a write to a leaderless member up to 7 s)")
	var fs faultSettings
	flag.DurationVar(&fs.duration, "faults", 0, "run the fault schedule for this long on each system instead of the table (at least 17s)")
	flag.Uint64Var(&fs.seed, "seed", 1, "seed of the fault schedule")
	flag.DurationVar(&fs.opTimeout, "fault-op-timeout", 250*time.Millisecond, "bound on one client call under the fault schedule, which retries at once")
	flag.BoolVar(&fs.keep, "keep", false, "with -faults: keep the data dirs and server logs after a successful run too")
	flag.StringVar(&fs.trace, "trace", "", "with -faults: write every client call to this prefix + the system's name (etcd, conclave)")
	sessions := flag.Int("sessions", 0, "instead of the table: open this many idle sessions on one conclave agent and print its memory per session")
	flag.Parse()
	err := s.parseSelection(*only, *systems)
	if err == nil {
		err = s.validate()
	}
	if err == nil && fs.duration != 0 {
		err = fs.validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	switch {
	case *sessions > 0:
		err = runSessionMemory(ctx, *sessions, *conclave, *parent, os.Stdout)
	case fs.duration != 0:
		err = runFaults(ctx, fs, *etcdBin, *conclave, *parent, os.Stdout)
	default:
		err = run(ctx, s, *etcdBin, *conclave, *parent, os.Stdout)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(1)
	}
}

// parseSelection reads -only and -systems into s.
func (s *settings) parseSelection(only, systems string) error {
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		s.only = re
	}
	for _, name := range strings.Split(systems, ",") {
		switch name = strings.TrimSpace(name); name {
		case "etcd", "conclave":
			s.systems = append(s.systems, name)
		default:
			return fmt.Errorf("-systems: want etcd and/or conclave, got %q", name)
		}
	}
	return nil
}

// runs reports whether row name is selected by -only.
func (s settings) runs(name string) bool { return s.only == nil || s.only.MatchString(name) }

// runsSystem reports whether system name is selected by -systems.
func (s settings) runsSystem(name string) bool { return slices.Contains(s.systems, name) }

func (s settings) validate() error {
	switch {
	case s.duration <= 0:
		return fmt.Errorf("-duration: must be > 0, got %s", s.duration)
	case s.warmup < 0:
		return fmt.Errorf("-warmup: must be >= 0, got %s", s.warmup)
	case s.rounds < 1:
		return fmt.Errorf("-rounds: must be >= 1, got %d", s.rounds)
	case s.kills < 1:
		return fmt.Errorf("-kills: must be >= 1, got %d", s.kills)
	case s.clients < 1:
		return fmt.Errorf("-clients: must be >= 1, got %d", s.clients)
	case s.opTimeout <= 0:
		return fmt.Errorf("-op-timeout: must be > 0, got %s", s.opTimeout)
	case s.killWrite <= 0:
		return fmt.Errorf("-kill-write-timeout: must be > 0, got %s", s.killWrite)
	}
	return nil
}

// row is one line of the table: a workload measured on both systems.
type row struct {
	name    string
	unit    string // a rate: higher is better
	measure func(ctx context.Context, b *bench) (result, error)
}

// The single-client rows whose cost per commit the table compares with
// the floor.
const (
	rowPut1  = "put 256 B, 1 client on the leader"
	rowLock1 = "lock+unlock, 1 client on the leader"
)

// rows are the table's rows that -only selects.
func rows(s settings) []row {
	n := s.clients
	all := []row{
		{rowPut1, "ops/s", func(ctx context.Context, b *bench) (result, error) { return b.puts(ctx, onLeader) }},
		{fmt.Sprintf("put 256 B, %d clients spread", n), "ops/s", func(ctx context.Context, b *bench) (result, error) { return b.puts(ctx, spreadOut) }},
		{"linearizable get, 1 client on the leader", "ops/s", func(ctx context.Context, b *bench) (result, error) { return b.gets(ctx, onLeader) }},
		{rowLock1, "cycles/s", func(ctx context.Context, b *bench) (result, error) { return b.locks(ctx, onLeader) }},
		{"lock+unlock, 1 client on a follower", "cycles/s", func(ctx context.Context, b *bench) (result, error) { return b.locks(ctx, onFollower) }},
		{fmt.Sprintf("lock+unlock, %d clients spread, own locks", n), "cycles/s", func(ctx context.Context, b *bench) (result, error) { return b.locks(ctx, spreadOut) }},
		{fmt.Sprintf("one lock, %d waiters spread", n), "hand-offs/s", func(ctx context.Context, b *bench) (result, error) { return b.handoffs(ctx) }},
		{fmt.Sprintf("create-if-absent + delete, %d clients spread", n), "cycles/s", func(ctx context.Context, b *bench) (result, error) { return b.creates(ctx) }},
	}
	return slices.DeleteFunc(all, func(r row) bool { return !s.runs(r.name) })
}

// The kill rows come from one series of kills per system.
const (
	killMedian = "kill -9 leader -> next write, median"
	killMax    = "kill -9 leader -> next write, max"
)

// peerSystem is one of the two systems compared, started as three members
// in a data dir of its own.
type peerSystem struct {
	name  string
	start func(ctx context.Context, dir string) (faultSystem, error)
}

// peerSystems are etcd and conclave, in the order they run.
func peerSystems(ps *procs, etcdBin, conclaveBin string) []peerSystem {
	return []peerSystem{
		{"etcd", func(ctx context.Context, dir string) (faultSystem, error) { return startEtcd(ctx, ps, etcdBin, dir) }},
		{"conclave", func(ctx context.Context, dir string) (faultSystem, error) {
			return startConclave(ctx, ps, conclaveBin, dir)
		}},
	}
}

// startSystem makes sys's data dir under dir (named sys.name, then
// suffix) and starts its members, saying how long they took to agree on a
// leader.
func startSystem(ctx context.Context, out io.Writer, dir, suffix string, sys peerSystem) (faultSystem, error) {
	sdir := filepath.Join(dir, sys.name+suffix)
	if err := os.Mkdir(sdir, 0o700); err != nil {
		return nil, err
	}
	t0 := time.Now()
	fmt.Fprintf(out, "%s: starting 3 members\n", sys.name)
	cl, err := sys.start(ctx, sdir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sys.name, err)
	}
	fmt.Fprintf(out, "%s: leader agreed by all 3 after %s\n", sys.name, time.Since(t0).Round(time.Millisecond))
	return cl, nil
}

// stoppable is a running system.
type stoppable interface {
	system
	stop()
}

// loadavg is the 1, 5 and 15 minute load average, or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// waitFor polls cond every 20 ms until it holds, it fails, timeout passes
// or ctx ends.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s within %s", what, timeout)
		}
		sleepCtx(ctx, 20*time.Millisecond)
		if err := ctx.Err(); err != nil {
			return errors.Join(fmt.Errorf("waiting for %s", what), err)
		}
	}
}

// scratch makes the temporary directory under parent that a run keeps its
// data dirs and server logs in, and the procs that hold what it starts.
// done kills them all and removes the directory, unless *err is set: then
// it keeps the directory and says where it is in *err.
func scratch(parent, prefix string) (string, *procs, func(*error), error) {
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return "", nil, nil, err
	}
	ps := &procs{}
	return dir, ps, func(err *error) {
		ps.killAll()
		if *err == nil {
			_ = os.RemoveAll(dir)
		} else {
			*err = fmt.Errorf("%w\n(data dirs and server logs kept in %s)", *err, dir)
		}
	}, nil
}
