package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/testcluster"
)

type healthBody struct {
	Status string `json:"status"`
	Node   string `json:"node"`
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"checks"`
}

func health(t *testing.T, url string) (int, healthBody) {
	t.Helper()
	code, body := get(url)
	var h healthBody
	if code != 0 {
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("%s: %d %q: %v", url, code, body, err)
		}
	}
	return code, h
}

func (h healthBody) check(name string) (status, reason string) {
	for _, c := range h.Checks {
		if c.Name == name {
			return c.Status, c.Reason
		}
	}
	return "", ""
}

// TestReadinessFollowsQuorum stops a majority under a follower: readiness
// turns 503 (no leader) within seconds, liveness fails once the voter has
// been without leader contact for the (local) limit, and both recover when
// the majority comes back.
func TestReadinessFollowsQuorum(t *testing.T) {
	oc := newOpsCluster(t, 3)
	leader := oc.WaitLeader(30 * time.Second)
	var follower *testcluster.Node
	var others []*testcluster.Node
	for _, n := range oc.Running() {
		if n != leader && follower == nil {
			follower = n
		} else {
			others = append(others, n)
		}
	}
	base, _, _ := oc.serve(t, follower)

	var h healthBody
	testcluster.WaitFor(t, 20*time.Second, "follower ready, a group heartbeat heard", func() bool {
		var code int
		code, h = health(t, base+"/v1/health/ready")
		st, _ := h.check("groups_heartbeat")
		return code == http.StatusOK && st == "pass"
	})
	for _, name := range []string{"gossip", "raft_contact", "groups_heartbeat", "leader", "fsm"} {
		if st, reason := h.check(name); st != "pass" || reason == "" {
			t.Errorf("ready check %s = %q %q, want pass with a reason", name, st, reason)
		}
	}
	code, live := health(t, base+"/v1/health/live")
	if code != http.StatusOK || live.Node != follower.Name {
		t.Fatalf("live = %d %+v", code, live)
	}
	if st, _ := live.check("leader"); st != "" {
		t.Errorf("liveness runs the readiness-only leader check")
	}

	// Stop the majority: the follower loses its leader.
	stopped := time.Now()
	for _, n := range others {
		oc.Kill(n)
	}
	testcluster.WaitFor(t, 15*time.Second, "follower not ready after losing quorum", func() bool {
		var code int
		code, h = health(t, base+"/v1/health/ready")
		return code == http.StatusServiceUnavailable
	})
	t.Logf("ready turned 503 %s after the majority was killed: %+v", time.Since(stopped).Round(time.Millisecond), h.Checks)
	if st, reason := h.check("leader"); st != "fail" || reason == "" {
		t.Errorf("leader check = %q %q, want fail with a reason", st, reason)
	}
	if h.Status != "fail" {
		t.Errorf("overall status %q, want fail", h.Status)
	}
	// The voter without leader contact beyond its limit fails liveness too.
	testcluster.WaitFor(t, 20*time.Second, "liveness failing on raft_contact", func() bool {
		code, live = health(t, base+"/v1/health/live")
		st, _ := live.check("raft_contact")
		return code == http.StatusServiceUnavailable && st == "fail"
	})

	for _, n := range others {
		oc.Restart(n)
	}
	testcluster.WaitFor(t, 30*time.Second, "follower ready again after the majority is back", func() bool {
		code, _ := health(t, base+"/v1/health/ready")
		return code == http.StatusOK
	})
	testcluster.WaitFor(t, 10*time.Second, "follower live again", func() bool {
		code, _ := health(t, base+"/v1/health/live")
		return code == http.StatusOK
	})
}
