package bench

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/registry"
)

// threeInstances is a registry replica with three passing instances of
// "api", what the DNS interface reads on every query.
type threeInstances struct{}

func (threeInstances) Instances(f registry.Filter) ([]registry.Instance, uint64) {
	if f.Service != "api" {
		return nil, 1
	}
	return []registry.Instance{
		{Service: "api", ID: "a1", Endpoint: "10.0.0.1:8080", Health: registry.Passing},
		{Service: "api", ID: "a2", Endpoint: "10.0.0.2:8080", Health: registry.Passing},
		{Service: "api", ID: "a3", Endpoint: "10.0.0.3:8080", Health: registry.Passing},
	}, 1
}

// udpFloor is the UDP loopback round trip of a 64-byte packet, the
// transport floor of a DNS query (the Floor's RTT is TCP's).
func udpFloor(b *testing.B, samples int) Summary {
	b.Helper()
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, addr, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteTo(buf[:n], addr)
		}
	}()
	defer func() { srv.Close(); <-done }()
	c, err := net.Dial("udp", srv.LocalAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ping, pong := make([]byte, 64), make([]byte, 64)
	out := make([]time.Duration, 0, samples)
	for range samples {
		start := time.Now()
		if _, err := c.Write(ping); err != nil {
			b.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(pong); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	return Summarize(out)
}

// BenchmarkDNS: SRV queries for a service of three instances over UDP on
// 127.0.0.1 against the DNS interface (api.DNSServer over a registry
// replica held in memory), 1 and 16 clients, each with its own socket.
// It measures the DNS server alone: no cluster runs, so the floor is the
// loopback round trip (TCP in the table, UDP in the notes).
func BenchmarkDNS(b *testing.B) {
	cfg := DefaultConfig()
	f, err := MeasureFloor(b.TempDir(), cfg.FloorSamples)
	if err != nil {
		b.Fatal(err)
	}
	udp := udpFloor(b, cfg.FloorSamples)

	srv, err := api.NewDNS(api.DefaultLocalDNSConfig(), threeInstances{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			b.Error(err)
		}
	}()

	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			r := NewReport(b, fmt.Sprintf("DNS: SRV query of a 3-instance service over UDP, %d clients", clients))
			r.Floor(f)
			conns := make([]*dns.Conn, clients)
			for i := range conns {
				c, err := dns.Dial("udp", srv.Addr())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				conns[i] = c
			}
			q := new(dns.Msg)
			q.SetQuestion("api.service.conclave.", dns.TypeSRV)
			run := Drive(b, clients, cfg.OpTimeout, func(ctx context.Context, w int) error {
				c := conns[w]
				m := q.Copy()
				m.Id = dns.Id()
				if dl, ok := ctx.Deadline(); ok {
					_ = c.SetDeadline(dl)
				}
				if err := c.WriteMsg(m); err != nil {
					return err
				}
				resp, err := c.ReadMsg()
				if err != nil {
					return err
				}
				if resp.Id != m.Id || len(resp.Answer) != 3 {
					return fmt.Errorf("answer id %d (want %d) with %d records, want 3", resp.Id, m.Id, len(resp.Answer))
				}
				return nil
			})
			reportLatency(r, run, "queries/s", Target{}, Target{})
			r.Note("UDP loopback round trip (64 B): p50 %s, p99 %s", udp.P50.Round(time.Microsecond), udp.P99.Round(time.Microsecond))
			r.Log()
		})
	}
}
