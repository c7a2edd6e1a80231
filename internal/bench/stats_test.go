package bench

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: Summarize must sort
	}
	tests := map[string]struct {
		in   []time.Duration
		want Summary
	}{
		"none": {in: nil, want: Summary{}},
		"one":  {in: ms(7), want: Summary{N: 1, Mean: 7 * time.Millisecond, P50: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		"two": {in: ms(9, 1), want: Summary{N: 2, Mean: 5 * time.Millisecond, P50: time.Millisecond,
			P99: 9 * time.Millisecond, Max: 9 * time.Millisecond}},
		"1..100 reversed": {in: ms(hundred...), want: Summary{N: 100, Mean: 50500 * time.Microsecond,
			P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			if got := Summarize(tc.in); got != tc.want {
				t.Fatalf("Summarize = %+v, want %+v", got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("Summarize reordered its input")
				}
			}
		})
	}
}

func TestUnits(t *testing.T) {
	if got := Millis(1500 * time.Microsecond); got != 1.5 {
		t.Fatalf("Millis = %v", got)
	}
	if got := Micros(2500 * time.Nanosecond); got != 2.5 {
		t.Fatalf("Micros = %v", got)
	}
}
