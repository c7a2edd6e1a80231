package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

func httpGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestHealthLive(t *testing.T) {
	s := startServer(t, newFakeNode("node-7").services())
	resp, body := httpGet(t, "http://"+s.srv.HTTPAddr().String()+"/v1/health/live")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	var h struct {
		Status string `json:"status"`
		Node   string `json:"node"`
		Checks []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if h.Status != "pass" || h.Node != "node-7" || len(h.Checks) == 0 || h.Checks[0].Name == "" || h.Checks[0].Status != "pass" {
		t.Fatalf("health = %+v", h)
	}

	post, err := http.Post("http://"+s.srv.HTTPAddr().String()+"/v1/health/live", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST status %d, want 405", post.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	tests := map[string]struct {
		state string
		want  string
	}{
		"follower":  {"follower", "conclave_raft_state 0"},
		"candidate": {"candidate", "conclave_raft_state 1"},
		"leader":    {"leader", "conclave_raft_state 2"},
		"shutdown":  {"shutdown", "conclave_raft_state 3"},
		"client":    {"client", "conclave_raft_state -1"},
	}
	node := newFakeNode("n1")
	reg := prometheus.NewRegistry()
	mine := prometheus.NewCounter(prometheus.CounterOpts{Name: "caller_supplied_total", Help: "A metric of the caller."})
	reg.MustRegister(mine)
	s := startServer(t, node.services(), WithRegistry(reg))
	url := "http://" + s.srv.HTTPAddr().String() + "/metrics"

	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Read at scrape time: a change shows on the next scrape.
			node.setRaft(cluster.RaftStatus{State: tc.state, Term: 42})
			_, body := httpGet(t, url)
			for _, want := range []string{
				tc.want + "\n",
				"conclave_raft_term 42\n",
				"# HELP conclave_raft_state ",
				"# HELP conclave_raft_term ",
				"go_goroutines ",
				"process_cpu_seconds_total ",
				"caller_supplied_total 0\n",
			} {
				if !strings.Contains(body, want) {
					t.Fatalf("metrics lack %q:\n%s", want, body)
				}
			}
		})
	}

	// Request metrics, by method and code.
	kv := pb.NewKVClient(s.conn)
	if _, err := kv.Get(testCtx(t), &pb.GetRequest{Key: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("get = %v", err)
	}
	_, body := httpGet(t, url)
	want := `conclave_api_requests_total{code="NotFound",method="/conclave.v1.KV/Get"} 1`
	if !strings.Contains(body, want) {
		t.Fatalf("metrics lack %q:\n%s", want, body)
	}
}

func TestDefaultRegistryUntouched(t *testing.T) {
	before, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, newFakeNode("n1").services())
	_, body := httpGet(t, "http://"+s.srv.HTTPAddr().String()+"/metrics")
	if !strings.Contains(body, "conclave_raft_state") {
		t.Fatal("own registry does not serve conclave_raft_state")
	}
	after, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range after {
		if strings.HasPrefix(mf.GetName(), "conclave_") {
			t.Fatalf("%s registered on the default registry", mf.GetName())
		}
	}
	if len(after) != len(before) {
		t.Fatalf("default registry changed: %d families before, %d after", len(before), len(after))
	}
}
