package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// run measures the floor, then runs the systems alternately (etcd,
// conclave, conclave, etcd, ... for s.rounds rounds), each run on a fresh
// cluster in a fresh data dir and preceded by its own floor, and prints the
// table of the medians.
func run(ctx context.Context, s settings, etcdBin, conclaveBin, parent string, out io.Writer) (err error) {
	for _, bin := range []string{etcdBin, conclaveBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%w (run `make bench-peers`, which builds it)", err)
		}
	}
	dir, ps, done, err := scratch(parent, "bench-peers-")
	if err != nil {
		return err
	}
	defer done(&err)

	started := time.Now()
	load0 := loadavg()
	fmt.Fprintf(out, "bench-peers: %s, %d CPUs, load %s, data in %s\n", started.UTC().Format(time.RFC3339), runtime.NumCPU(), load0, dir)

	t := newTable()
	systems := peerSystems(ps, etcdBin, conclaveBin)
	for k, i := range runOrder(s, systems) {
		sys := systems[i]
		first := !slices.Contains(runOrder(s, systems)[:k], i)
		fl, err := measureFloor(dir, 500)
		if err != nil {
			return err
		}
		t.floors[i] = append(t.floors[i], fl)
		fmt.Fprintf(out, "floor before run %d (%s): %s\n", k+1, sys.name, fl)
		suffix := fmt.Sprintf("-%d", k+1)
		cl, err := startSystem(ctx, out, dir, suffix, sys)
		if err != nil {
			return err
		}
		err = measureSystem(ctx, cl, s, first, out, sys.name, func(name string, v float64) {
			r := t.figures[name]
			r[i] = append(r[i], v)
			t.figures[name] = r
		})
		cl.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", sys.name, err)
		}
		// The next run starts on a quiet disk: this one's files are gone
		// and written back.
		if err := os.RemoveAll(filepath.Join(dir, sys.name+suffix)); err != nil {
			return err
		}
		syscall.Sync()
	}
	t.print(out, s, started, load0)
	return nil
}

// runOrder is the order of the runs, as indexes into systems: ABBA rounds
// (etcd, conclave, then conclave, etcd, ...), so neither system always runs
// on the warmer or the quieter machine. Systems -systems leaves out are
// skipped.
func runOrder(s settings, systems []peerSystem) []int {
	var out []int
	for r := range s.rounds {
		for j := range systems {
			i := j
			if r%2 == 1 {
				i = len(systems) - 1 - j
			}
			if s.runsSystem(systems[i].name) {
				out = append(out, i)
			}
		}
	}
	return out
}

// measureSystem runs every row on sys, then, if kills, the kills,
// reporting each figure to record as it comes.
func measureSystem(ctx context.Context, sys system, s settings, kills bool, out io.Writer, name string, record func(string, float64)) error {
	for _, r := range rows(s) {
		b := &bench{sys: sys, s: s}
		res, err := r.measure(ctx, b)
		b.release()
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Fprintf(out, "%s: %-48s %8.0f %s\n", name, r.name, res.value, r.unit)
		record(r.name, res.value)
	}
	if !kills || !s.runs("kill") {
		return nil
	}
	ds, err := failover(ctx, sys, s)
	if err != nil {
		return err
	}
	med, mx := medianMax(ds)
	var each []string
	for _, d := range ds {
		each = append(each, d.Round(time.Millisecond).String())
	}
	fmt.Fprintf(out, "%s: kill -9 leader -> next write: %s\n", name, strings.Join(each, " "))
	record(killMedian, med.Seconds())
	record(killMax, mx.Seconds())
	return nil
}

// table is what the runs measured: each row's figures per system (etcd,
// conclave), one per run, and the floor before each run.
type table struct {
	figures map[string][2][]float64
	floors  [2][]floor // per system, the floor before each of its runs
}

func newTable() *table { return &table{figures: map[string][2][]float64{}} }

// median is the median of the figures of row name on system i (0 if none).
func (t *table) median(name string, i int) float64 { return medianOf(t.figures[name][i]) }

// medianOf is the median of v (the mean of the middle two for an even
// count), 0 if v is empty.
func medianOf(v []float64) float64 {
	v = slices.Clone(v)
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}

// cell is the median of row name on system i, followed by each run's
// figure when there was more than one, in the order they ran.
func (t *table) cell(s settings, system string, name string, i int, format string) string {
	if !s.runsSystem(system) || len(t.figures[name][i]) == 0 {
		return "-"
	}
	c := fmt.Sprintf(format, t.median(name, i))
	if v := t.figures[name][i]; len(v) > 1 {
		var each []string
		for _, x := range v {
			each = append(each, fmt.Sprintf(format, x))
		}
		c += " (" + strings.Join(each, ", ") + ")"
	}
	return c
}

// perCommit is the cost of one commit in row name on system i, in each of
// its runs (1 / rate / commits) and against the floor measured just before
// that run (its sync plus its round trip): the disk's sync cost moves by
// half within minutes here, so each run is held to its own floor.
func (t *table) perCommit(name string, i, commits int) (costs []time.Duration, ratios []float64) {
	for j, v := range t.figures[name][i] {
		if v == 0 || j >= len(t.floors[i]) {
			continue
		}
		c := time.Duration(float64(time.Second) / v / float64(commits))
		f := t.floors[i][j]
		costs = append(costs, c)
		ratios = append(ratios, float64(c)/float64(f.fsync+f.rtt))
	}
	return costs, ratios
}

// print prints the table in Markdown, so it can be pasted into
// docs/benchmarks.md as it is, then the floors and the cost per commit of
// the single-client put and lock cycle against the floor.
func (t *table) print(out io.Writer, s settings, started time.Time, load0 string) {
	fmt.Fprintf(out, "\n%s, %d CPUs, load %s at the start and %s at the end; %d round(s), each figure the median of its runs (each run's in brackets, in the order they ran); each rate %s after %s of warm-up; %d kills per system, writes bounded by %s\n\n",
		started.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), load0, loadavg(), s.rounds, s.duration, s.warmup, s.kills, s.killWrite)
	fmt.Fprintln(out, "| workload | etcd | conclave | conclave/etcd |")
	fmt.Fprintln(out, "|---|---:|---:|---:|")
	for _, r := range rows(s) {
		fmt.Fprintf(out, "| %s, %s | %s | %s | %s |\n", r.name, r.unit,
			t.cell(s, "etcd", r.name, 0, "%.0f"), t.cell(s, "conclave", r.name, 1, "%.0f"),
			ratio(t.median(r.name, 1), t.median(r.name, 0)))
	}
	for _, name := range []string{killMedian, killMax} {
		if !s.runs("kill") {
			break
		}
		// For a time the ratio is inverted, so above 1 always means
		// conclave ahead.
		fmt.Fprintf(out, "| %s, s | %s | %s | %s |\n", name,
			t.cell(s, "etcd", name, 0, "%.2f"), t.cell(s, "conclave", name, 1, "%.2f"),
			ratio(t.median(name, 0), t.median(name, 1)))
	}
	fmt.Fprintln(out)
	for i, system := range []string{"etcd", "conclave"} {
		for j, f := range t.floors[i] {
			fmt.Fprintf(out, "floor before %s's run %d, same filesystem as the data dirs: %s\n", system, j+1, f)
		}
	}
	for _, c := range []struct {
		row     string
		commits int
	}{{rowPut1, 1}, {rowLock1, 2}} {
		for i, system := range []string{"etcd", "conclave"} {
			costs, ratios := t.perCommit(c.row, i, c.commits)
			if len(costs) == 0 {
				continue
			}
			var cs, rs []string
			for k := range costs {
				cs = append(cs, costs[k].Round(time.Microsecond).String())
				rs = append(rs, fmt.Sprintf("%.1fx", ratios[k]))
			}
			fmt.Fprintf(out, "%s, %s: %s per commit (%d per cycle) = %s its run's floor (sync + round trip); median %.1fx\n",
				system, c.row, strings.Join(cs, " / "), c.commits, strings.Join(rs, " / "), medianOf(ratios))
		}
	}
	fmt.Fprintln(out, "ratio: conclave/etcd for rates; etcd/conclave for the kill times, so above 1 always means conclave ahead")
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}
