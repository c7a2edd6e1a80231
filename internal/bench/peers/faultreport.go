package main

import (
	"fmt"
	"io"
	"time"
)

// printSchedule prints the schedule as it ran on one system and what its
// clients saw.
func printSchedule(out io.Writer, name string, r scheduleResult) {
	fmt.Fprintf(out, "\n%s: the schedule as it ran\n", name)
	// The gaps are the longest with no success of the kind from the
	// fault's start to the next fault's (or the end).
	fmt.Fprintf(out, "  %-5s %-8s %-10s %-6s %-8s %-7s %-7s %-8s %s\n", "fault", "start", "member", "leader", "kind", "length", "kv gap", "lock gap", "note")
	for i, f := range r.ran {
		to := r.end
		if i+1 < len(r.ran) {
			to = r.ran[i+1].start
		}
		fmt.Fprintf(out, "  %-5d %-8s %-10s %-6s %-8s %-7s %-7s %-8s %s\n",
			f.n, offset(r.t0, f.start), f.name, f.leader, f.kind, seconds(f.end.Sub(f.start)),
			seconds(longestGap(r.kv.all, f.start, to).length), seconds(longestGap(r.lock.all, f.start, to).length), f.note)
	}
	for _, k := range []struct {
		kind clientKind
		st   kindStats
	}{{kvClient, r.kv}, {lockClient, r.lock}} {
		st := k.st
		fmt.Fprintf(out, "%s %s: no %s client succeeded for %s from %s: %s\n",
			name, k.kind, k.kind, seconds(st.system.length), offset(r.t0, st.system.from), during(r.ran, st.system))
		fmt.Fprintf(out, "%s %s: longest for one client %s, %s from %s: %s\n",
			name, k.kind, seconds(st.perClient.length), st.perClient.client, offset(r.t0, st.perClient.from), during(r.ran, st.perClient))
		fmt.Fprintf(out, "%s %s: %d successful calls, %d failed, %d moves to the next member", name, k.kind, st.ok, st.failed, st.moves)
		if k.kind == lockClient {
			fmt.Fprintf(out, ", %d sessions re-created (%d after the old one ended)", st.renewed, st.died)
		}
		fmt.Fprintln(out)
	}
}

// during names the first fault that overlaps the gap g, and where the
// gap began against it, or else the fault it followed.
func during(ran []ranFault, g gap) string {
	to := g.from.Add(g.length)
	var last *ranFault
	for i := range ran {
		f := &ran[i]
		if f.start.After(to) {
			break
		}
		if !f.end.Before(g.from) {
			if d := f.start.Sub(g.from); d >= 0 {
				return fmt.Sprintf("%s, which began %s after the last success", f, seconds(d))
			}
			return fmt.Sprintf("%s, %s into it", f, seconds(g.from.Sub(f.start)))
		}
		last = f
	}
	if last == nil {
		return "no fault before it"
	}
	return fmt.Sprintf("no fault during it; %s after %s ended", seconds(g.from.Sub(last.end)), last)
}

// printFaultTable prints etcd against conclave in Markdown, to paste into
// docs/benchmarks.md as it is.
func printFaultTable(out io.Writer, etcd, conclave scheduleResult) {
	rows := []struct {
		name string
		f    func(r scheduleResult) string
	}{
		{"longest time no kv client succeeded, s", func(r scheduleResult) string { return secs(r.kv.system.length) }},
		{"longest time no lock client succeeded, s", func(r scheduleResult) string { return secs(r.lock.system.length) }},
		{"longest time one kv client did not succeed, s", func(r scheduleResult) string { return secs(r.kv.perClient.length) }},
		{"longest time one lock client did not succeed, s", func(r scheduleResult) string { return secs(r.lock.perClient.length) }},
		{"successful kv calls (read, write, CAS)", func(r scheduleResult) string { return fmt.Sprint(r.kv.ok) }},
		{"successful lock calls (lock, unlock)", func(r scheduleResult) string { return fmt.Sprint(r.lock.ok) }},
		{"lock sessions re-created", func(r scheduleResult) string { return fmt.Sprint(r.lock.renewed) }},
	}
	fmt.Fprintln(out, "| fault schedule | etcd | conclave |")
	fmt.Fprintln(out, "|---|---:|---:|")
	for _, row := range rows {
		fmt.Fprintf(out, "| %s | %s | %s |\n", row.name, row.f(etcd), row.f(conclave))
	}
}

func offset(t0, t time.Time) string { return fmt.Sprintf("+%.2fs", t.Sub(t0).Seconds()) }

func seconds(d time.Duration) string { return secs(d) + "s" }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
