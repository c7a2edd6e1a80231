package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// Target is a DESIGN §16 bound on one metric; the zero Target is none.
type Target struct {
	min, max float64
	set      bool
}

// AtLeast is a lower bound (rates).
func AtLeast(v float64) Target { return Target{min: v, max: math.Inf(1), set: true} }

// AtMost is an upper bound (latencies).
func AtMost(v float64) Target { return Target{min: math.Inf(-1), max: v, set: true} }

// Met reports whether v satisfies t; a value always meets no target.
func (t Target) Met(v float64) bool { return !t.set || (v >= t.min && v <= t.max) }

// String is "≥ 600", "≤ 1.5" or "" for no target.
func (t Target) String() string {
	switch {
	case !t.set:
		return ""
	case math.IsInf(t.max, 1):
		return "≥ " + formatValue(t.min)
	default:
		return "≤ " + formatValue(t.max)
	}
}

// Report is one benchmark's results: every Metric goes to b.ReportMetric
// (so benchstat and CI see it) and into the summary table Log prints.
type Report struct {
	b     *testing.B
	title string
	floor *Floor
	rows  []row
	notes []string
}

type row struct {
	unit   string
	value  float64
	target Target
}

// NewReport starts the report of b; title says what was measured.
func NewReport(b *testing.B, title string) *Report { return &Report{b: b, title: title} }

// Floor records the floor measured in this run, printed above the metrics.
func (r *Report) Floor(f Floor) { r.floor = &f }

// Metric reports v in unit (no spaces: "ops/s", "p99_ms") with its target.
func (r *Report) Metric(unit string, v float64, t Target) {
	r.b.ReportMetric(v, unit)
	r.rows = append(r.rows, row{unit: unit, value: v, target: t})
}

// Note adds a free-form line below the metrics.
func (r *Report) Note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Log prints the summary table. Benchmark logs are always shown, -v or
// not, but testing keeps only the first ten lines of a benchmark's output:
// formatTable stays within that for up to five metrics and two notes.
func (r *Report) Log() {
	r.b.Helper()
	r.b.Log(formatTable(r.title, r.floor, r.rows, r.notes))
}

// formatTable renders the summary, one line for the title, one for the
// floor, one per metric and one per note. Kept apart from Report so it can
// be tested without a *testing.B.
func formatTable(title string, floor *Floor, rows []row, notes []string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "== %s\n", title)
	if floor != nil {
		fmt.Fprintf(&sb, "   floor, same run (%d samples): fsync 4KiB append p50 %s p99 %s µs | loopback 64B RTT p50 %s p99 %s µs\n",
			floor.Fsync.N, formatValue(Micros(floor.Fsync.P50)), formatValue(Micros(floor.Fsync.P99)),
			formatValue(Micros(floor.RTT.P50)), formatValue(Micros(floor.RTT.P99)))
	}
	for _, rw := range rows {
		line := fmt.Sprintf("   %-22s %10s", rw.unit, formatValue(rw.value))
		if rw.target.set {
			verdict := "met"
			if !rw.target.Met(rw.value) {
				verdict = "MISSED"
			}
			line += fmt.Sprintf("   target %-8s %s", rw.target, verdict)
		}
		sb.WriteString(line + "\n")
	}
	for _, n := range notes {
		fmt.Fprintf(&sb, "   %s\n", n)
	}
	return strings.TrimRight(sb.String(), "\n")
}

// formatValue prints rates as whole numbers and small values with three
// significant digits.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
