package bench

import (
	"testing"
	"time"
)

// BenchmarkFloor measures the physical floor the cluster benchmarks stand
// on: a 4 KiB O_APPEND write + fdatasync in the benchmark's temp dir (the
// disk the nodes' bolt files use) and a 64-byte loopback TCP ping-pong.
// One iteration is one of each. Its file sorts first, so `make bench`
// prints it before the cluster benchmarks.
func BenchmarkFloor(b *testing.B) {
	p, err := NewProber(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var syncs, rtts []time.Duration
	for b.Loop() {
		d, err := p.Fsync()
		if err != nil {
			b.Fatal(err)
		}
		syncs = append(syncs, d)
		if d, err = p.RoundTrip(); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, d)
	}
	f := Floor{Fsync: Summarize(syncs), RTT: Summarize(rtts)}
	r := NewReport(b, "Floor: 4 KiB append + fdatasync, 64 B loopback TCP round trip")
	r.Metric("fsync_p50_us", Micros(f.Fsync.P50), Target{})
	r.Metric("fsync_p99_us", Micros(f.Fsync.P99), Target{})
	r.Metric("rtt_p50_us", Micros(f.RTT.P50), Target{})
	r.Metric("rtt_p99_us", Micros(f.RTT.P99), Target{})
	r.Note("%d samples each; fsync max %s, rtt max %s", f.Fsync.N, f.Fsync.Max.Round(time.Microsecond), f.RTT.Max.Round(time.Microsecond))
	r.Log()
}

func TestMeasureFloor(t *testing.T) {
	n := DefaultLocalConfig().FloorSamples
	f, err := MeasureFloor(t.TempDir(), n)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Summary{"fsync": f.Fsync, "rtt": f.RTT} {
		if s.N != n || s.P50 <= 0 || s.P50 > s.P99 || s.P99 > s.Max {
			t.Errorf("%s: %+v", name, s)
		}
	}
}
