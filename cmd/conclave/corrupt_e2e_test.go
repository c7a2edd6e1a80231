package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
)

// TestE2ECorrupt checks, with each log store, what a byte changed in a
// follower's Raft log on disk does: three agents as real processes, puts
// through the leader, then the follower is killed, one committed command
// in its log file is edited in place (same length, so the store still
// opens and replays it), and the follower restarted. The leader's
// checksum of that command (raft's Log.Extensions) no longer matches, so
// the follower's state machine halts at that entry: the node is not ready
// (fsm_integrity names the index), serves no stale read, counts the
// failure; the other two carry on serving writes and reads.
func TestE2ECorrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs three agents per log store")
	}
	bin := e2eBuild(t)
	for _, store := range []string{"bolt", "wal"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			testCorrupt(t, bin, store)
		})
	}
}

const (
	// corruptPuts is how many keys the test writes: far below the
	// snapshot threshold, so every one is still in the log.
	corruptPuts = 50
	// corruptAt is the put whose value is edited on disk: early, so with
	// wal it is not in the last batch raft-wal re-checks on open.
	corruptAt = 7
)

var (
	corruptGood = []byte("val-7000-marker")
	corruptEvil = []byte("val-EVIL-marker") // same length as corruptGood
	// corruptReason is fsm_integrity's reason for a halted node.
	corruptReason = regexp.MustCompile(`state machine halted at index (\d+): checksum mismatch`)
)

func corruptKey(i int) string { return fmt.Sprintf("corrupt/%04d", i) }

func testCorrupt(t *testing.T, bin, store string) {
	c := newE2ECluster(t, bin, 3)
	for _, nd := range c.nodes {
		e2eSetLogStore(t, nd, store)
		c.start(nd)
	}
	cls := durClients(t, c)
	leader := durLeader(t, c, cls, time.Now(), 20*time.Second)
	var victim *e2eNode
	var victimCl *client.Client
	var others []int
	for i, nd := range c.nodes {
		switch {
		case nd == leader:
			others = append(others, i)
		case victim == nil:
			victim, victimCl = nd, cls[i]
		default:
			others = append(others, i)
		}
	}
	leaderCl := cls[nodeIndex(c, leader)]

	want := map[string]string{}
	for i := range corruptPuts {
		val := fmt.Sprintf("val-%04d", i)
		if i == corruptAt {
			val = string(corruptGood)
		}
		ctx, cancel := context.WithTimeout(context.Background(), durPutTimeout)
		_, err := leaderCl.KV().Put(ctx, corruptKey(i), []byte(val))
		cancel()
		if err != nil {
			t.Fatalf("put %s through leader %s: %v", corruptKey(i), leader.name, err)
		}
		want[corruptKey(i)] = val
	}
	// The victim has applied every put (the last one is enough: it
	// applies in order) before it is stopped.
	last := corruptKey(corruptPuts - 1)
	e2eWait(t, time.Now(), 10*time.Second, victim.name+" applied every put", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		e, err := victimCl.KV().Get(ctx, last, client.Stale())
		cancel()
		if err != nil {
			return false, err.Error()
		}
		return string(e.Value) == want[last], fmt.Sprintf("%s=%q", last, e.Value)
	})

	victim.signal(t, syscall.SIGKILL)
	victim.waitExit(t, 5*time.Second)
	edited := corruptLog(t, victim, store)
	t.Logf("%s: %s's log edited in place (%q -> %q) in %v", store, victim.name, corruptGood, corruptEvil, edited)
	c.start(victim)

	// The victim replays its log once it learns the commit index from
	// the leader, and halts at the edited entry.
	var index string
	e2eWait(t, time.Now(), 20*time.Second, victim.name+" not ready with fsm_integrity failing", func() (bool, string) {
		code, h, err := corruptReady(victim)
		if err != nil {
			return false, err.Error()
		}
		for _, ch := range h.Checks {
			if ch.Name != "fsm_integrity" {
				continue
			}
			m := corruptReason.FindStringSubmatch(ch.Reason)
			if code != http.StatusServiceUnavailable || ch.Status != "fail" || m == nil {
				return false, fmt.Sprintf("HTTP %d, fsm_integrity %s %q", code, ch.Status, ch.Reason)
			}
			index = m[1]
			return true, ""
		}
		return false, fmt.Sprintf("HTTP %d, no fsm_integrity check in %+v", code, h.Checks)
	})
	// The index named is the edited entry's: the key's create index is
	// the Raft index of the put that created it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	marker, err := leaderCl.KV().Get(ctx, corruptKey(corruptAt), client.Consistent())
	cancel()
	if err != nil {
		t.Fatalf("read %s through leader %s: %v", corruptKey(corruptAt), leader.name, err)
	}
	if index != strconv.FormatUint(marker.CreateIndex, 10) {
		t.Fatalf("fsm_integrity names index %s, want %d (the put of %q)", index, marker.CreateIndex, corruptGood)
	}
	t.Logf("%s: %s halted at index %s", store, victim.name, index)

	// Its replica serves nothing, above all not the edited value.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	e, err := victimCl.KV().Get(ctx, corruptKey(corruptAt), client.Stale())
	cancel()
	if err == nil {
		t.Fatalf("stale read of %s on halted %s: %q, want it refused", corruptKey(corruptAt), victim.name, e.Value)
	}
	if !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("stale read of %s on halted %s: %v, want a checksum mismatch", corruptKey(corruptAt), victim.name, err)
	}
	if got := corruptMetric(t, victim); got < 1 {
		t.Fatalf("%s: conclave_fsm_checksum_failures_total %v, want at least 1", victim.name, got)
	}

	// The other two serve writes (through either) and reads (consistent,
	// and stale from each replica), the edited key with its true value.
	for round, i := range others {
		nd, cl := c.nodes[i], cls[i]
		key := fmt.Sprintf("after/%d", round)
		e2eWait(t, time.Now(), 15*time.Second, "put "+key+" through "+nd.name, func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), durPutTimeout)
			_, err := cl.KV().Put(ctx, key, []byte(nd.name))
			cancel()
			if err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		want[key] = nd.name
	}
	for _, i := range others {
		nd, cl := c.nodes[i], cls[i]
		for _, mode := range []client.ReadMode{client.ReadConsistent, client.ReadStale} {
			what := fmt.Sprintf("%s read through %s", mode, nd.name)
			e2eWait(t, time.Now(), 10*time.Second, what+" has every key", func() (bool, string) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				for k, v := range want {
					e, err := cl.KV().Get(ctx, k, mode)
					if err != nil {
						cancel()
						return false, k + ": " + err.Error()
					}
					if string(e.Value) != v {
						cancel()
						return false, fmt.Sprintf("%s=%q, want %q", k, e.Value, v)
					}
				}
				cancel()
				return true, ""
			})
		}
		if code, _, err := corruptReady(nd); err != nil || code != http.StatusOK {
			t.Fatalf("%s: /v1/health/ready HTTP %d, %v; want 200", nd.name, code, err)
		}
	}
}

// nodeIndex is nd's position in c.nodes.
func nodeIndex(c *e2eCluster, nd *e2eNode) int {
	for i, o := range c.nodes {
		if o == nd {
			return i
		}
	}
	c.t.Fatalf("%s: not in the cluster", nd.name)
	return -1
}

// corruptLog replaces every corruptGood in nd's log store files (bolt:
// raft.db; wal: the segment files under wal/) with corruptEvil, in place,
// and returns the files it changed, failing the test if none held it.
func corruptLog(t *testing.T, nd *e2eNode, store string) []string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(nd.cfgPath), nd.name, "_sys", "raft")
	var files []string
	switch store {
	case "bolt":
		files = []string{filepath.Join(dir, "raft.db")}
	case "wal":
		err := filepath.WalkDir(filepath.Join(dir, "wal"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("log store %q", store)
	}
	var edited []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, corruptGood) {
			continue
		}
		if err := os.WriteFile(f, bytes.ReplaceAll(b, corruptGood, corruptEvil), 0o600); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, f)
		edited = append(edited, fmt.Sprintf("%s (%d times)", rel, bytes.Count(b, corruptGood)))
	}
	if len(edited) == 0 {
		t.Fatalf("%s: %q in none of its %s log files %v", nd.name, corruptGood, store, files)
	}
	return edited
}

// corruptHealth is the part of a health answer the test reads.
type corruptHealth struct {
	Status string `json:"status"`
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"checks"`
}

// corruptReady asks nd's /v1/health/ready.
func corruptReady(nd *e2eNode) (int, corruptHealth, error) {
	var h corruptHealth
	body, code, err := corruptGet(nd, "/v1/health/ready")
	if err != nil {
		return 0, h, err
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return code, h, fmt.Errorf("HTTP %d: bad json %q: %w", code, body, err)
	}
	return code, h, nil
}

// corruptMetric is nd's conclave_fsm_checksum_failures_total.
func corruptMetric(t *testing.T, nd *e2eNode) float64 {
	t.Helper()
	body, code, err := corruptGet(nd, "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("%s: /metrics: HTTP %d, %v", nd.name, code, err)
	}
	const name = "conclave_fsm_checksum_failures_total "
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, name); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: /metrics line %q: %v", nd.name, l, err)
			}
			return f
		}
	}
	t.Fatalf("%s: no %s in /metrics", nd.name, strings.TrimSpace(name))
	return 0
}

// corruptGet GETs path on nd's HTTP address.
func corruptGet(nd *e2eNode, path string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+nd.httpAddr+path, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, resp.StatusCode, err
}
