package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Op is one operation of worker w (0-based), the unit a benchmark counts.
// Drive calls each worker's Op from that worker's goroutine only, so an
// Op may keep per-worker state indexed by w without locking; Drive's
// return orders every such write before the caller's reads. It must
// return soon after ctx ends.
type Op func(ctx context.Context, w int) error

// Run is what Drive measured.
type Run struct {
	// Ops is the number of operations b.Loop counted (b.N).
	Ops int
	// Elapsed is the timed duration (b.Elapsed): from the moment the
	// workers were let go to the last counted completion.
	Elapsed time.Duration
	// Latency holds every measured operation's duration, all workers.
	Latency []time.Duration
	// PerWorker counts the measured operations of each worker.
	PerWorker []int
	// CPU is the CPU time the whole process (nodes and load generator)
	// used during Elapsed; 0 where the platform does not say.
	CPU time.Duration
}

// CPUPercent is CPU as a share of every core the process may use during
// Elapsed: near 100 means CPU-bound, well below means the time goes to
// waiting (disk syncs, timers, round trips).
func (r Run) CPUPercent() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return 100 * r.CPU.Seconds() / (r.Elapsed.Seconds() * float64(runtime.GOMAXPROCS(0)))
}

// Rate is operations per second.
func (r Run) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Drive runs a closed loop: workers goroutines each call op back to back,
// and b.Loop counts their completions, so -benchtime decides how long the
// measurement runs (a duration) or how many operations it counts (Nx), and
// ns/op is the inverse of the throughput. Each worker first runs op once
// untimed, so connections, sessions and leases are warm when the clock
// starts. Each op gets timeout; any error fails b, because a rate that
// dropped errors would overstate the system.
//
// Drive must be the only user of b.Loop in the benchmark.
func Drive(b *testing.B, workers int, timeout time.Duration, op Op) Run {
	b.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		opErr   error
		failed  = make(chan struct{})
		ready   = make(chan struct{}, workers)
		start   = make(chan struct{})
		done    = make(chan struct{}, 4*workers)
		lat     = make([][]time.Duration, workers)
	)
	fail := func(err error) {
		errOnce.Do(func() {
			opErr = err
			close(failed)
		})
	}
	call := func(w int) error {
		octx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return op(octx, w)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := call(w); err != nil {
				fail(fmt.Errorf("worker %d warm-up: %w", w, err))
				return
			}
			ready <- struct{}{}
			select {
			case <-start:
			case <-ctx.Done():
				return
			}
			for {
				t0 := time.Now()
				err := call(w)
				d := time.Since(t0)
				if ctx.Err() != nil {
					return // stopping: this op may have been cut short
				}
				if err != nil {
					fail(fmt.Errorf("worker %d: %w", w, err))
					return
				}
				lat[w] = append(lat[w], d)
				select {
				case done <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	finish := func() {
		stop()
		wg.Wait()
	}
	for range workers {
		select {
		case <-ready:
		case <-failed:
			finish()
			b.Fatal(opErr)
		}
	}

	ops := 0
	first := true
	var cpu0 time.Duration
	for b.Loop() {
		if first {
			cpu0 = processCPU()
			close(start) // b.Loop's first call reset the timer
			first = false
		}
		select {
		case <-done:
			ops++
		case <-failed:
			finish()
			b.Fatalf("after %d operations: %v", ops, opErr)
		}
	}
	elapsed, cpu := b.Elapsed(), processCPU()-cpu0
	finish()

	run := Run{Ops: ops, Elapsed: elapsed, CPU: cpu, PerWorker: make([]int, workers)}
	for w, l := range lat {
		run.Latency = append(run.Latency, l...)
		run.PerWorker[w] = len(l)
	}
	return run
}
