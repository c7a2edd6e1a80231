package api_test

import (
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// wantMetrics is every metric DESIGN §12 and issue 7 ask for, by family
// name as it appears in the exposition (a histogram by its _bucket series'
// family).
var wantMetrics = []string{
	"conclave_raft_state",
	"conclave_raft_term",
	"conclave_raft_voters",
	"conclave_raft_non_voters",
	"conclave_raft_leader_changes_total",
	"conclave_raft_leader_loss_elections_total",
	"conclave_raft_early_appends_total",
	"conclave_raft_voter_churn_burst_total",
	"conclave_raft_commit_index",
	"conclave_raft_applied_index",
	"conclave_raft_last_contact_seconds",
	"conclave_fsm_apply_duration_seconds",
	"conclave_gossip_members",
	"conclave_gossip_convergence_seconds",
	"conclave_gossip_health_score",
	"conclave_gossip_bytes_total",
	"conclave_internode_connections",
	"conclave_internode_bytes_total",
	"conclave_internode_class_bytes_total",
	"conclave_internode_class_streams_total",
	"conclave_api_requests_total",
	"conclave_api_request_duration_seconds",
	"conclave_sessions",
	"conclave_locks_held",
	"conclave_kv_eventual_keys",
	"conclave_kv_eventual_bytes",
	"conclave_kv_eventual_merges_total",
	"conclave_kv_eventual_dropped_total",
	"conclave_kv_eventual_convergence_seconds",
	"conclave_semaphore_slots_held",
	"conclave_elections_led",
}

// sample returns the value of the series line that starts with series
// (name plus labels, exactly as exposed), or fails.
func sample(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("series %s: value %q: %v", series, rest, err)
			}
			return v
		}
	}
	t.Fatalf("no series %s in:\n%s", series, body)
	return 0
}

func TestMetricsOfRealNode(t *testing.T) {
	oc := newOpsCluster(t, 3)
	leader := oc.WaitLeader(30 * time.Second)
	var follower *testcluster.Node
	for _, n := range oc.Running() {
		if n != leader {
			follower = n
			break
		}
	}
	lBase, lGRPC, _ := oc.serve(t, leader)
	fBase, _, _ := oc.serve(t, follower)

	// Traffic for the request, session and lock metrics: a KV write over
	// gRPC and a held lock.
	c, err := client.New(lGRPC)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	if _, err := c.KV().Put(ctx, "metrics/k", []byte("v")); err != nil {
		t.Fatalf("put: %v", err)
	}
	// An eventual write on the node itself (not through the API, whose
	// request counts are checked below).
	if _, err := leader.EventualKV().Put(ctx, "metrics/eventual", []byte("v")); err != nil {
		t.Fatalf("eventual put: %v", err)
	}
	s, err := c.Session(ctx)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.Close()
	if _, err := s.Lock(ctx, "metrics-lock"); err != nil {
		t.Fatalf("lock: %v", err)
	}
	// An instance, for conclave_service_instances (a series per service
	// and health: none while the registry is empty).
	if _, err := s.RegisterService(ctx, client.Registration{Service: "metrics-svc", Endpoint: "127.0.0.1:9"}); err != nil {
		t.Fatalf("register: %v", err)
	}

	var body string
	testcluster.WaitFor(t, 20*time.Second, "leader metrics showing the lock and three voters", func() bool {
		code, b := get(lBase + "/metrics")
		body = b
		return code == http.StatusOK && strings.Contains(b, "conclave_locks_held 1\n") &&
			strings.Contains(b, `conclave_service_instances{health="passing",service="metrics-svc"} 1`+"\n") &&
			strings.Contains(b, "conclave_raft_voters 3\n") && strings.Contains(b, `conclave_gossip_members{state="alive"} 3`+"\n")
	})
	for _, name := range wantMetrics {
		if !strings.Contains(body, "# HELP "+name+" ") {
			t.Errorf("leader /metrics lacks %s (or its help text)", name)
		}
		if !regexp.MustCompile(`(?m)^` + name + `(_bucket)?[ {]`).MatchString(body) {
			t.Errorf("leader /metrics has no sample of %s", name)
		}
	}
	if got := sample(t, body, "conclave_raft_state"); got != 2 {
		t.Errorf("leader conclave_raft_state = %v, want 2", got)
	}
	if got := sample(t, body, "conclave_sessions"); got != 1 {
		t.Errorf("conclave_sessions = %v, want 1", got)
	}
	if got := sample(t, body, "conclave_raft_leader_changes_total"); got < 1 {
		t.Errorf("conclave_raft_leader_changes_total = %v, want >= 1", got)
	}
	if got := sample(t, body, "conclave_gossip_convergence_seconds"); got <= 0 {
		t.Errorf("conclave_gossip_convergence_seconds = %v, want > 0", got)
	}
	if got := sample(t, body, `conclave_internode_class_bytes_total{class="raft",direction="out"}`); got <= 0 {
		t.Errorf("raft class bytes out = %v, want > 0 on the leader", got)
	}
	if got := sample(t, body, `conclave_api_requests_total{code="OK",method="/conclave.v1.KV/Put"}`); got != 1 {
		t.Errorf("KV/Put OK count = %v, want 1", got)
	}
	if !strings.Contains(body, `conclave_api_request_duration_seconds_count{code="OK",method="/conclave.v1.KV/Put"} 1`) {
		t.Errorf("no latency sample for KV/Put by code")
	}
	if got := sample(t, body, "conclave_fsm_apply_duration_seconds_count"); got < 2 {
		t.Errorf("fsm apply count = %v, want >= 2 (the put and the lock)", got)
	}

	// Every conclave metric the Grafana dashboard and the docs' alerts
	// query exists.
	for _, doc := range []string{"../docs/grafana/conclave-dashboard.json", "../docs/operations.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`conclave_[a-z_]+`).FindAllString(string(b), -1) {
			name = strings.TrimSuffix(name, "_bucket")
			if name == "conclave_" || strings.HasPrefix(name, "conclave_test") {
				continue
			}
			if name == "conclave_build_info" {
				// The agent's (cmd/conclave) and tested there:
				// TestAgentExportsBuildInfo.
				continue
			}
			if !strings.Contains(body, "# HELP "+name+" ") {
				t.Errorf("%s uses %s, which the leader does not export", doc, name)
			}
		}
	}

	// A follower reports itself as one, its replica has the lock, and its
	// eventual store the leader's eventual write, merged and timed.
	testcluster.WaitFor(t, 10*time.Second, "follower metrics", func() bool {
		code, b := get(fBase + "/metrics")
		body = b
		return code == http.StatusOK && strings.Contains(b, "conclave_locks_held 1\n") &&
			strings.Contains(b, "conclave_kv_eventual_keys 1\n")
	})
	if got := sample(t, body, "conclave_kv_eventual_merges_total"); got < 1 {
		t.Errorf("follower conclave_kv_eventual_merges_total = %v, want >= 1", got)
	}
	if got := sample(t, body, "conclave_kv_eventual_convergence_seconds_count"); got < 1 {
		t.Errorf("follower convergence observations = %v, want >= 1", got)
	}
	if got := sample(t, body, "conclave_raft_state"); got != 0 {
		t.Errorf("follower conclave_raft_state = %v, want 0", got)
	}
	for _, name := range wantMetrics {
		if !strings.Contains(body, "# HELP "+name+" ") && name != "conclave_api_request_duration_seconds" && name != "conclave_api_requests_total" {
			t.Errorf("follower /metrics lacks %s", name)
		}
	}
}
