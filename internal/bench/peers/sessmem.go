package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/conclave-dev/conclave/api/client"
)

// memFamilies are the series of an agent's /metrics that say where its
// memory is: the process's resident set and the Go runtime's heap and
// goroutine stacks, with the goroutine count.
var memFamilies = []string{
	"process_resident_memory_bytes",
	"go_memstats_heap_inuse_bytes",
	"go_memstats_stack_inuse_bytes",
	"go_goroutines",
}

// sessionConns is how many client connections carry the sessions: an
// application shares one connection among many sessions.
const sessionConns = 20

// runSessionMemory starts three conclave agents as the table does, reads
// node-1's memory (memFamilies, the median of 5 samples a second apart),
// opens n idle sessions on node-1 over sessionConns connections, reads
// again after 10 s, closes them, reads again after 10 s, and prints the
// figures and the cost per session.
func runSessionMemory(ctx context.Context, n int, bin, parent string, out io.Writer) (err error) {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (run `make build`)", err)
	}
	dir, ps, done, err := scratch(parent, "bench-sessions-")
	if err != nil {
		return err
	}
	defer done(&err)
	fmt.Fprintf(out, "bench-peers -sessions %d: %s, load %s\n", n, time.Now().UTC().Format(time.RFC3339), loadavg())
	cl, err := startConclave(ctx, ps, bin, dir)
	if err != nil {
		return err
	}
	defer cl.stop()
	metrics := "http://" + cl.http[0] + "/metrics"
	settle := func() error {
		select {
		case <-time.After(10 * time.Second):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := settle(); err != nil {
		return err
	}
	before, err := sampleMemory(ctx, metrics)
	if err != nil {
		return err
	}
	conns := make([]*client.Client, sessionConns)
	for i := range conns {
		if conns[i], err = client.New(cl.grpc[0]); err != nil {
			return err
		}
		defer conns[i].Close()
	}
	sessions := make([]*client.Session, 0, n)
	defer func() {
		for _, s := range sessions {
			_ = s.Close()
		}
	}()
	for i := range n {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := conns[i%len(conns)].Session(octx)
		cancel()
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		sessions = append(sessions, s)
	}
	if err := settle(); err != nil {
		return err
	}
	held, err := sampleMemory(ctx, metrics)
	if err != nil {
		return err
	}
	for _, s := range sessions {
		_ = s.Close()
	}
	sessions = nil
	if err := settle(); err != nil {
		return err
	}
	after, err := sampleMemory(ctx, metrics)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nnode-1 with %d idle sessions (over %d connections) on it:\n\n", n, sessionConns)
	fmt.Fprintf(out, "| series | before | with the sessions | per session | after closing them |\n|---|---:|---:|---:|---:|\n")
	for _, f := range memFamilies {
		per := (held[f] - before[f]) / float64(n)
		fmt.Fprintf(out, "| %s | %.0f | %.0f | %.1f | %.0f |\n", f, before[f], held[f], per, after[f])
	}
	return nil
}

// sampleMemory reads memFamilies from the /metrics at url five times, a
// second apart, and returns each one's median.
func sampleMemory(ctx context.Context, url string) (map[string]float64, error) {
	samples := map[string][]float64{}
	for i := range 5 {
		if i > 0 {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		got, err := scrape(ctx, url)
		if err != nil {
			return nil, err
		}
		for _, f := range memFamilies {
			v, ok := got[f]
			if !ok {
				return nil, fmt.Errorf("%s: no %s", url, f)
			}
			samples[f] = append(samples[f], v)
		}
	}
	med := map[string]float64{}
	for f, vs := range samples {
		slices.Sort(vs)
		med[f] = vs[len(vs)/2]
	}
	return med, nil
}

// scrape reads the unlabelled series of memFamilies from one /metrics page.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(memFamilies, name) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
