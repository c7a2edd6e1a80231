package bench

import (
	"strings"
	"testing"
	"time"
)

func TestTarget(t *testing.T) {
	tests := map[string]struct {
		target Target
		v      float64
		met    bool
		str    string
	}{
		"none":           {target: Target{}, v: -1, met: true, str: ""},
		"at least, over": {target: AtLeast(600), v: 601, met: true, str: "≥ 600"},
		"at least, edge": {target: AtLeast(600), v: 600, met: true, str: "≥ 600"},
		"at least, miss": {target: AtLeast(600), v: 599.9, met: false, str: "≥ 600"},
		"at most, under": {target: AtMost(1.5), v: 1.2, met: true, str: "≤ 1.50"},
		"at most, miss":  {target: AtMost(1000), v: 1000.5, met: false, str: "≤ 1000"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.target.Met(tc.v); got != tc.met {
				t.Fatalf("Met(%v) = %v, want %v", tc.v, got, tc.met)
			}
			if got := tc.target.String(); got != tc.str {
				t.Fatalf("String = %q, want %q", got, tc.str)
			}
		})
	}
}

func TestFormatTable(t *testing.T) {
	floor := &Floor{
		Fsync: Summary{N: 200, P50: 300 * time.Microsecond, P99: 1800 * time.Microsecond},
		RTT:   Summary{N: 200, P50: 21 * time.Microsecond, P99: 124 * time.Microsecond},
	}
	// As large as the largest table a benchmark prints (LockHandoff16's):
	// five metrics, two notes.
	rows := []row{
		{unit: "handoffs/s", value: 272.2, target: AtLeast(375)},
		{unit: "wait_p50_ms", value: 55.74},
		{unit: "wait_p99_ms", value: 73.07},
		{unit: "max_wait_ms", value: 75.13},
		{unit: "ops/s", value: 3120, target: AtLeast(3000)},
	}
	got := formatTable("Title", floor, rows, []string{"note one", "note two"})
	lines := strings.Split(got, "\n")
	// testing keeps 10 lines of a benchmark's output, the last cut short.
	if len(lines) > 9 {
		t.Fatalf("%d lines, testing would truncate:\n%s", len(lines), got)
	}
	for _, want := range []string{
		"== Title",
		"fsync 4KiB append p50 300 p99 1800 µs | loopback 64B RTT p50 21.0 p99 124 µs",
		"handoffs/s",
		"target ≥ 375    MISSED",
		"target ≥ 3000   met",
		"note two",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(lines[3], "target") {
		t.Errorf("a metric without a target shows one: %q", lines[3])
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{3120.4: "3120", 100: "100", 55.74: "55.7", 1.234: "1.23", 0: "0.00"} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", v, got, want)
		}
	}
}
