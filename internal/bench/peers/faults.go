package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The fault schedule (-faults): one fault every faultEvery, from
// faultEvery on, each lasting minFault to maxFault, so that one has ended
// before the next begins.
const (
	faultEvery = 10 * time.Second
	minFault   = 3 * time.Second
	maxFault   = 7 * time.Second
	// leaderLookup bounds finding the leader when a fault begins; past
	// it the fault falls on the member drawn for it.
	leaderLookup = 3 * time.Second
)

// faultSettings are the fault schedule's knobs, from the command line.
type faultSettings struct {
	duration  time.Duration // the schedule's length on each system; 0: the table instead
	seed      uint64
	opTimeout time.Duration // bound on each client call
	keep      bool          // keep the data dirs and logs after a successful run
	trace     string        // prefix of the files that get every call, one per system; "": none
}

func (s faultSettings) validate() error {
	switch {
	case s.duration < faultEvery+maxFault:
		return fmt.Errorf("-faults: must be at least %s (one fault), got %s", faultEvery+maxFault, s.duration)
	case s.opTimeout <= 0:
		return fmt.Errorf("-fault-op-timeout: must be > 0, got %s", s.opTimeout)
	}
	return nil
}

type faultKind int

const (
	faultKill    faultKind = iota // SIGKILL; started again at the end, same data dir and ports
	faultPause                    // SIGSTOP; SIGCONT at the end
	faultIsolate                  // no packet to or from the member (isolate.go)
)

func (k faultKind) String() string {
	return [...]string{"kill -9", "pause", "isolate"}[k]
}

// plannedFault is one fault as the seed draws it. Which member is the
// leader is known only when the fault begins, so onLeader is kept apart
// from member, the member drawn for the other half of the faults.
type plannedFault struct {
	at       time.Duration // from the start of the schedule
	length   time.Duration
	kind     faultKind
	onLeader bool
	member   int
}

// planFaults draws the schedule for d from seed: the same on both systems.
// Kinds come in turn; lengths are whole tenths of a second.
func planFaults(seed uint64, d time.Duration, kinds []faultKind) []plannedFault {
	rng := rand.New(rand.NewPCG(seed, 0))
	steps := int((maxFault-minFault)/(100*time.Millisecond)) + 1
	var out []plannedFault
	for at := faultEvery; at+maxFault <= d; at += faultEvery {
		out = append(out, plannedFault{
			at:       at,
			kind:     kinds[len(out)%len(kinds)],
			onLeader: rng.IntN(2) == 0,
			member:   rng.IntN(members),
			length:   minFault + time.Duration(rng.IntN(steps))*100*time.Millisecond,
		})
	}
	return out
}

// ranFault is a fault as it ran on one system.
type ranFault struct {
	plannedFault
	n          int    // its number in the schedule, from 1
	member     int    // the member it fell on
	name       string // that member's name
	leader     string // whether it was the leader when the fault began: yes, no, ?
	start, end time.Time
	skipped    bool   // nothing was done (the member was down, or the fault failed)
	note       string // what went wrong
}

func (f ranFault) String() string {
	return fmt.Sprintf("fault %d (%s %s, leader %s)", f.n, f.kind, f.name, f.leader)
}

// scheduleResult is what one system's run of the schedule gave.
type scheduleResult struct {
	ran      []ranFault
	t0, end  time.Time
	kv, lock kindStats
}

// runFaults is the -faults mode: the floor, then the schedule on etcd and
// then on conclave, then the summary.
func runFaults(ctx context.Context, fs faultSettings, etcdBin, conclaveBin, parent string, out io.Writer) (err error) {
	for _, bin := range []string{etcdBin, conclaveBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%w (run `make bench-faults`, which builds it)", err)
		}
	}
	dir, err := os.MkdirTemp(parent, "bench-faults-")
	if err != nil {
		return err
	}
	kinds := []faultKind{faultKill, faultPause, faultIsolate}
	iso, isoErr := newIsolator()
	ps := &procs{cgroups: iso}
	defer func() {
		// Killing first empties the cgroups; deleting the table removes
		// any rule left by a fault cut short.
		ps.killAll()
		if iso != nil {
			if cerr := iso.close(); cerr != nil && err == nil {
				err = cerr
			}
		}
		switch {
		case err == nil && fs.keep:
			fmt.Fprintf(out, "data dirs and server logs kept in %s\n", dir)
		case err == nil:
			_ = os.RemoveAll(dir)
		default:
			err = fmt.Errorf("%w\n(data dirs and server logs kept in %s)", err, dir)
		}
	}()

	started := time.Now()
	load0 := loadavg()
	fmt.Fprintf(out, "bench-faults: %s, %d CPUs, load %s, data in %s\n", started.UTC().Format(time.RFC3339), runtime.NumCPU(), load0, dir)
	if isoErr != nil {
		kinds = kinds[:2]
		ps.cgroups = nil
		fmt.Fprintf(out, "isolation unavailable, kill -9 and pause only: %v\n", isoErr)
	}
	fl, err := measureFloor(dir, 500)
	if err != nil {
		return err
	}
	floorLine := fmt.Sprintf("floor (same run, same filesystem as the data dirs): %s", fl)
	fmt.Fprintln(out, floorLine)
	plan := planFaults(fs.seed, fs.duration, kinds)
	var names []string
	for _, k := range kinds {
		names = append(names, k.String())
	}
	fmt.Fprintf(out, "schedule: seed %d, %s per system, %d faults, one every %s from +%s, %s-%s each, kinds in turn (%s); calls bounded by %s\n",
		fs.seed, fs.duration, len(plan), faultEvery, faultEvery, minFault, maxFault, strings.Join(names, ", "), fs.opTimeout)

	var results []scheduleResult
	for _, sys := range peerSystems(ps, etcdBin, conclaveBin) {
		cl, err := startSystem(ctx, out, dir, "", sys)
		if err != nil {
			return err
		}
		res, err := runSchedule(ctx, cl, iso, plan, fs, out, sys.name)
		cl.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", sys.name, err)
		}
		printSchedule(out, sys.name, res)
		results = append(results, res)
	}
	fmt.Fprintf(out, "\n%s, %d CPUs, load %s at the start and %s at the end; seed %d, %s per system, %d faults (%s in turn), calls bounded by %s\n\n",
		started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), load0, loadavg(), fs.seed, fs.duration, len(plan), strings.Join(names, ", "), fs.opTimeout)
	printFaultTable(out, results[0], results[1])
	fmt.Fprintf(out, "\n%s\n", floorLine)
	return nil
}

// runSchedule runs the clients and the plan on sys, then stops the
// clients, healing whatever fault is in progress on every path.
func runSchedule(ctx context.Context, sys faultSystem, iso *isolator, plan []plannedFault, fs faultSettings, out io.Writer, name string) (scheduleResult, error) {
	var cls []*faultClient
	for m := range members {
		for _, kind := range []clientKind{kvClient, lockClient} {
			ts, err := sys.faultTargets(m)
			if err != nil {
				for _, c := range cls {
					c.stop()
				}
				return scheduleResult{}, err
			}
			cls = append(cls, &faultClient{
				name:    fmt.Sprintf("%s@%s", kind, sys.name(m)),
				kind:    kind,
				key:     fmt.Sprintf("faults/%s/%d", kind, m),
				targets: ts,
				timeout: fs.opTimeout,
				trace:   fs.trace != "",
			})
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, c := range cls {
		wg.Go(func() { c.run(cctx) })
	}
	var stopOnce sync.Once
	stopClients := func() {
		stopOnce.Do(func() {
			cancel()
			wg.Wait()
			for _, c := range cls {
				c.stop()
			}
		})
	}
	defer stopClients()

	err := waitFor(ctx, settleTimeout, "a first successful call by every client", func() (bool, error) {
		for _, c := range cls {
			if !c.up.Load() {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return scheduleResult{}, err
	}
	res := scheduleResult{t0: time.Now()}
	res.end = res.t0.Add(fs.duration)
	for i, p := range plan {
		sleepUntil(ctx, res.t0.Add(p.at))
		if ctx.Err() != nil {
			break
		}
		f := beginFault(ctx, sys, iso, p, i+1)
		fmt.Fprintf(out, "%s: +%5.2fs %s for %s%s\n", name, f.start.Sub(res.t0).Seconds(), f, p.length, noteOf(f))
		sleepUntil(ctx, f.start.Add(p.length))
		endFault(ctx, sys, iso, &f)
		res.ran = append(res.ran, f)
	}
	sleepUntil(ctx, res.end)
	if err := ctx.Err(); err != nil {
		return scheduleResult{}, err
	}
	stopClients()
	if fs.trace != "" {
		if err := writeTrace(fs.trace+name, cls, res.t0); err != nil {
			return scheduleResult{}, err
		}
	}
	res.kv = statsOf(cls, kvClient, res.t0, res.end)
	res.lock = statsOf(cls, lockClient, res.t0, res.end)
	return res, nil
}

// beginFault finds the leader, picks the member and starts the fault.
func beginFault(ctx context.Context, sys faultSystem, iso *isolator, p plannedFault, n int) ranFault {
	f := ranFault{plannedFault: p, n: n, member: p.member, leader: "?"}
	lctx, cancel := context.WithTimeout(ctx, leaderLookup)
	l, err := sys.leader(lctx)
	cancel()
	switch {
	case err == nil && p.onLeader:
		f.member = l
	case p.onLeader:
		f.note = "leader unknown, on the member drawn instead"
	}
	if err == nil {
		f.leader = map[bool]string{true: "yes", false: "no"}[f.member == l]
	}
	f.name = sys.name(f.member)
	f.start = time.Now()
	pr := sys.member(f.member)
	if pr == nil {
		f.skipped, f.note = true, "member down, nothing done"
		return f
	}
	switch p.kind {
	case faultKill:
		sys.kill(f.member)
	case faultPause:
		err = pr.signal(syscall.SIGSTOP)
	case faultIsolate:
		err = iso.cut(f.name)
	}
	if err != nil {
		f.skipped, f.note = true, err.Error()
	}
	return f
}

// endFault ends f: it starts a killed member again (unless the run is
// ending), resumes a paused one, heals an isolated one.
func endFault(ctx context.Context, sys faultSystem, iso *isolator, f *ranFault) {
	f.end = time.Now()
	if f.skipped {
		return
	}
	var err error
	switch f.kind {
	case faultKill:
		if ctx.Err() == nil {
			err = sys.startMember(f.member)
		}
	case faultPause:
		if pr := sys.member(f.member); pr != nil {
			err = pr.signal(syscall.SIGCONT)
		}
	case faultIsolate:
		err = iso.heal()
	}
	if err != nil {
		f.note = strings.TrimPrefix(f.note+"; ", "; ") + "ending it: " + err.Error()
	}
}

func noteOf(f ranFault) string {
	if f.note == "" {
		return ""
	}
	return " (" + f.note + ")"
}

// sleepUntil sleeps until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) {
	if d := time.Until(t); d > 0 {
		sleepCtx(ctx, d)
	}
}
