package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/cluster"
)

// do sends a request and decodes the JSON answer into out (if non-nil).
func do(t *testing.T, method, url, body string, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode, string(b)
}

// restErr decodes a REST error body.
func restErr(t *testing.T, body string) (code, msg string) {
	t.Helper()
	var e errorJSON
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Error.Code, e.Error.Message
}

func TestRESTKV(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	base := "http://" + s.srv.HTTPAddr().String()

	var e kvJSON
	if code, body := do(t, "PUT", base+"/v1/kv/app/config", "hello", &e); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	if e.Key != "app/config" || string(e.Value) != "hello" || e.Version == 0 {
		t.Fatalf("put returned %+v", e)
	}
	var got kvJSON
	if code, body := do(t, "GET", base+"/v1/kv/app/config?mode=stale", "", &got); code != 200 {
		t.Fatalf("get: %d %s", code, body)
	}
	if _, mode, _ := node.calls(); mode != cluster.ReadStale {
		t.Errorf("mode passed down = %v, want stale", mode)
	}
	if got.Version != e.Version || string(got.Value) != "hello" {
		t.Fatalf("get = %+v", got)
	}
	// The JSON value is base64, as in Consul; ?raw gives the bytes.
	_, body := do(t, "GET", base+"/v1/kv/app/config", "", nil)
	if !strings.Contains(body, base64.StdEncoding.EncodeToString([]byte("hello"))) {
		t.Errorf("value not base64 in %s", body)
	}
	if code, raw := do(t, "GET", base+"/v1/kv/app/config?raw", "", nil); code != 200 || raw != "hello" {
		t.Errorf("raw get = %d %q", code, raw)
	}

	// Compare-and-set at a stale version: Aborted, 409, nothing changed.
	code, body := do(t, "PUT", fmt.Sprintf("%s/v1/kv/app/config?cas=%d", base, e.Version+100), "other", nil)
	if c, msg := restErr(t, body); code != http.StatusConflict || c != "Aborted" || !strings.Contains(msg, "app/config") {
		t.Errorf("stale cas = %d %s %q", code, c, msg)
	}
	// cas=0: only if absent.
	code, body = do(t, "PUT", base+"/v1/kv/app/other?cas=0", "x", nil)
	if code != 200 {
		t.Errorf("create-if-absent = %d %s", code, body)
	}

	var list struct {
		Entries []kvJSON `json:"entries"`
	}
	if code, body := do(t, "GET", base+"/v1/kv?prefix=app/&limit=1", "", &list); code != 200 || len(list.Entries) != 1 || list.Entries[0].Key != "app/config" {
		t.Fatalf("list = %d %s", code, body)
	}
	if _, _, limit := node.calls(); limit != 1 {
		t.Errorf("limit passed down = %d", limit)
	}
	if code, body := do(t, "GET", base+"/v1/kv/?prefix=app/", "", &list); code != 200 || len(list.Entries) != 2 {
		t.Fatalf("list via /v1/kv/ = %d %s", code, body)
	}

	if code, body := do(t, "DELETE", base+"/v1/kv/app/config", "", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	code, body = do(t, "GET", base+"/v1/kv/app/config", "", nil)
	if c, msg := restErr(t, body); code != http.StatusNotFound || c != "NotFound" || !strings.Contains(msg, "app/config") {
		t.Errorf("get deleted = %d %s %q", code, c, msg)
	}

	// A prefix delete, on either path.
	node.mu.Lock()
	for _, k := range []string{"p/1", "p/2", "q/1", "pq"} {
		node.put(k, nil)
	}
	node.mu.Unlock()
	var deleted struct {
		Prefix  string `json:"prefix"`
		Deleted int    `json:"deleted"`
	}
	if code, body := do(t, "DELETE", base+"/v1/kv?prefix=p/", "", &deleted); code != 200 || deleted.Deleted != 2 || deleted.Prefix != "p/" {
		t.Fatalf("DELETE /v1/kv?prefix=p/ = %d %s", code, body)
	}
	if code, body := do(t, "DELETE", base+"/v1/kv/?prefix=q/", "", &deleted); code != 200 || deleted.Deleted != 1 {
		t.Fatalf("DELETE /v1/kv/?prefix=q/ = %d %s", code, body)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if _, ok := node.kv["pq"]; !ok || len(node.kv) != 2 {
		t.Fatalf("after the prefix deletes: %v", node.kv)
	}
}

func TestRESTBadInput(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	base := "http://" + s.srv.HTTPAddr().String()
	tests := map[string]struct {
		method, path, body string
		status             int
		code, field        string
	}{
		"bad mode":         {"GET", "/v1/kv/k?mode=eventual", "", 400, "InvalidArgument", "mode"},
		"bad limit":        {"GET", "/v1/kv?limit=-1", "", 400, "InvalidArgument", "limit"},
		"bad cas":          {"PUT", "/v1/kv/k?cas=x", "v", 400, "InvalidArgument", "cas"},
		"zero delete cas":  {"DELETE", "/v1/kv/k?cas=0", "", 400, "InvalidArgument", "cas"},
		"empty key put":    {"PUT", "/v1/kv/", "v", 400, "InvalidArgument", "key"},
		"empty key delete": {"DELETE", "/v1/kv/", "", 400, "InvalidArgument", "DELETE /v1/kv?prefix=P deletes a prefix"},
		"no prefix delete": {"DELETE", "/v1/kv", "", 400, "InvalidArgument", "key"},
		"empty prefix":     {"DELETE", "/v1/kv?prefix=", "", 400, "InvalidArgument", "prefix: must not be empty"},
		"bad lock mode":    {"GET", "/v1/locks?mode=x", "", 400, "InvalidArgument", "mode"},
		"free lock":        {"GET", "/v1/locks/free", "", 404, "NotFound", "free"},
		"unknown endpoint": {"GET", "/v1/names", "", 404, "NotFound", "/v1/names"},
		"oversize value":   {"PUT", "/v1/kv/big", strings.Repeat("x", DefaultLocalConfig().MaxRecvMsgBytes+1), 400, "InvalidArgument", "value"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := len(node.kv)
			code, body := do(t, tc.method, base+tc.path, tc.body, nil)
			c, msg := restErr(t, body)
			if code != tc.status || c != tc.code || !strings.Contains(msg, tc.field) {
				t.Fatalf("= %d %s %q, want %d %s naming %q", code, c, msg, tc.status, tc.code, tc.field)
			}
			if len(node.kv) != before {
				t.Fatalf("bad input changed the store")
			}
		})
	}
	// A node error maps like gRPC: no quorum is Unavailable, 503.
	node.setErr(fmt.Errorf("%w: no leader after 5s", cluster.ErrUnavailable))
	code, body := do(t, "PUT", base+"/v1/kv/k", "v", nil)
	if c, _ := restErr(t, body); code != http.StatusServiceUnavailable || c != "Unavailable" {
		t.Fatalf("unavailable = %d %s", code, c)
	}
	node.setErr(errors.New("disk on fire"))
	code, body = do(t, "GET", base+"/v1/kv/k", "", nil)
	if c, _ := restErr(t, body); code != http.StatusInternalServerError || c != "Internal" {
		t.Fatalf("internal = %d %s", code, c)
	}
}

func TestRESTClusterAndLocks(t *testing.T) {
	node := newFakeNode("n1")
	seen := time.Now().Add(-time.Second).UTC().Truncate(time.Millisecond)
	node.members = []cluster.Member{
		{Name: "n1", Addr: "10.0.0.1:7946", State: "alive", RaftRole: "voter", HTTPAddr: "0.0.0.0:7941", FailureDomain: "a", Leader: true, LastSeen: seen},
		{Name: "n2", Addr: "10.0.0.2:7946", State: "alive", RaftRole: "voter", HTTPAddr: "10.0.0.2:9000", FailureDomain: "b", LastSeen: seen},
		{Name: "n3", Addr: "10.0.0.3:7946", State: "dead", RaftRole: "voter", HTTPAddr: "10.0.0.3:7941"},
	}
	node.setRaft(cluster.RaftStatus{Node: "n1", State: "leader", Term: 7, LeaderID: "n1", CommitIndex: 40,
		LastContact: 1500 * time.Millisecond, Servers: []cluster.RaftServer{{ID: "n1", Role: "voter", Suffrage: "voter", Leader: true}}})
	s := startServer(t, node.services())
	base := "http://" + s.srv.HTTPAddr().String()

	var members struct {
		Node    string       `json:"node"`
		Members []memberJSON `json:"members"`
	}
	if code, body := do(t, "GET", base+"/v1/members", "", &members); code != 200 {
		t.Fatalf("members: %d %s", code, body)
	}
	if members.Node != "n1" || len(members.Members) != 3 || !members.Members[0].Leader ||
		members.Members[1].FailureDomain != "b" || !members.Members[1].LastSeen.Equal(seen) {
		t.Fatalf("members = %+v", members)
	}
	var raft raftJSON
	if code, body := do(t, "GET", base+"/v1/raft", "", &raft); code != 200 {
		t.Fatalf("raft: %d %s", code, body)
	}
	if raft.LeaderID != "n1" || raft.Term != 7 || raft.CommitIndex != 40 || raft.LastContactSeconds != 1.5 || len(raft.Servers) != 1 {
		t.Fatalf("raft = %+v", raft)
	}

	// Prometheus SD: live members only, wildcard hosts replaced by the
	// gossip host.
	var sd []sdTargetGroup
	if code, body := do(t, "GET", base+"/v1/sd/prometheus", "", &sd); code != 200 {
		t.Fatalf("sd: %d %s", code, body)
	}
	if len(sd) != 2 || sd[0].Targets[0] != "10.0.0.1:7941" || sd[1].Targets[0] != "10.0.0.2:9000" ||
		sd[0].Labels["node"] != "n1" || sd[1].Labels["failure_domain"] != "b" {
		t.Fatalf("sd = %+v", sd)
	}

	// Locks: one held with a waiter.
	ctx := testCtx(t)
	holder, err := node.OpenSession(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	token, err := node.Locks().Acquire(ctx, holder.PID(), "jobs/a", cluster.AcquireOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var locks struct {
		Locks []lockJSON `json:"locks"`
	}
	if code, body := do(t, "GET", base+"/v1/locks?prefix=jobs/", "", &locks); code != 200 || len(locks.Locks) != 1 {
		t.Fatalf("locks: %d %s", code, body)
	}
	var l lockJSON
	if code, body := do(t, "GET", base+"/v1/locks/jobs/a", "", &l); code != 200 {
		t.Fatalf("lock: %d %s", code, body)
	}
	if l.Holder != holder.PID() || l.Token != token {
		t.Fatalf("lock = %+v, want holder %s token %d", l, holder.PID(), token)
	}
}

func TestStatusPageServed(t *testing.T) {
	s := startServer(t, newFakeNode("n1").services())
	base := "http://" + s.srv.HTTPAddr().String()
	for path, want := range map[string]string{
		"/ui/":          "<title>conclave status</title>",
		"/ui/app.js":    "/v1/members",
		"/ui/style.css": "table",
		"/":             "<title>conclave status</title>", // redirected
	} {
		code, body := do(t, "GET", base+path, "", nil)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, body lacks %q", path, code, want)
		}
	}
	// No third-party script or stylesheet: the page works offline.
	for _, f := range []string{"/ui/", "/ui/app.js", "/ui/style.css"} {
		_, body := do(t, "GET", base+f, "", nil)
		if strings.Contains(body, "https://") || strings.Contains(body, "//cdn") {
			t.Errorf("%s references an external URL", f)
		}
	}
}
