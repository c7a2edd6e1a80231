package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// TestSemaphoresAndElectionsOverTheAPI drives semaphores and elections
// through the Go SDK against a real 3-node cluster, checks the gRPC codes
// of bad input, and reads both back over REST and from the status page.
func TestSemaphoresAndElectionsOverTheAPI(t *testing.T) {
	oc := newOpsCluster(t, 3)
	leader := oc.WaitLeader(30 * time.Second)
	base, grpcAddr, _ := oc.serve(t, leader)
	c, err := client.New(grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	s1, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()

	codeOf := func(err error) (codes.Code, string) { st, _ := status.FromError(err); return st.Code(), st.Message() }
	// Bad input names the field.
	for _, limit := range []int{0, 1001} {
		if code, msg := codeOf(func() error { _, err := s1.Semaphore(ctx, "api/sem", limit); return err }()); code != codes.InvalidArgument || !strings.Contains(msg, "limit") {
			t.Fatalf("limit %d: %v %q, want InvalidArgument naming limit", limit, code, msg)
		}
	}
	if code, msg := codeOf(func() error { _, err := s1.Campaign(ctx, "", nil); return err }()); code != codes.InvalidArgument || !strings.Contains(msg, "name") {
		t.Fatalf("empty election name: %v %q", code, msg)
	}
	if code, msg := codeOf(func() error { _, err := s1.Campaign(ctx, "api/e", make([]byte, 1025)); return err }()); code != codes.InvalidArgument || !strings.Contains(msg, "value") {
		t.Fatalf("value over the bound: %v %q", code, msg)
	}

	// A semaphore of 2: two slots with distinct tokens, a third refused,
	// another limit refused naming the current one.
	a, err := s1.Semaphore(ctx, "api/sem", 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s2.Semaphore(ctx, "api/sem", 2)
	if err != nil || b.Token() == a.Token() {
		t.Fatalf("second slot: %v (tokens %d, %d)", err, a.Token(), b.Token())
	}
	s3, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := s3.Semaphore(ctx, "api/sem", 2); !client.IsLockHeld(err) {
		t.Fatalf("third slot: %v, want AlreadyExists", err)
	}
	if code, msg := codeOf(func() error { _, err := s3.Semaphore(ctx, "api/sem", 3); return err }()); code != codes.FailedPrecondition || !strings.Contains(msg, "limit 2") {
		t.Fatalf("other limit: %v %q", code, msg)
	}
	info, err := c.Semaphores().Inspect(ctx, "api/sem", client.Consistent())
	if err != nil || info.Limit != 2 || len(info.Holders) != 2 {
		t.Fatalf("inspect: %+v %v", info, err)
	}

	// An election with an observer.
	octx, stop := context.WithCancel(ctx)
	states := make(chan client.ElectionState, 16)
	obsDone := make(chan error, 1)
	go func() {
		obsDone <- c.Elections().Observe(octx, "api/e", func(st client.ElectionState) error { states <- st; return nil })
	}()
	next := func() client.ElectionState {
		t.Helper()
		select {
		case st := <-states:
			return st
		case <-time.After(10 * time.Second):
			t.Fatal("no election state within 10s")
			return client.ElectionState{}
		}
	}
	if st := next(); st.Leader != "" {
		t.Fatalf("first state %+v, want no leader", st)
	}
	l, err := s1.Campaign(ctx, "api/e", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if st := next(); st.Leader != s1.PID() || string(st.Value) != "v1" || st.Token != l.Token() {
		t.Fatalf("state %+v", st)
	}
	if err := l.Proclaim(ctx, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if st := next(); st.Leader != s1.PID() || string(st.Value) != "v2" {
		t.Fatalf("after proclaim: %+v", st)
	}
	stop()
	if err := <-obsDone; err != nil {
		t.Fatalf("observe: %v", err)
	}

	// REST and the status page.
	var sems struct {
		Semaphores []struct {
			Name    string `json:"name"`
			Limit   int    `json:"limit"`
			Holders []struct {
				Token uint64 `json:"token"`
			} `json:"holders"`
		} `json:"semaphores"`
	}
	code, body := get(base + "/v1/semaphores?mode=consistent")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &sems) != nil || len(sems.Semaphores) != 1 || sems.Semaphores[0].Limit != 2 ||
		len(sems.Semaphores[0].Holders) != 2 {
		t.Fatalf("/v1/semaphores: %d %s", code, body)
	}
	var el struct {
		Leader string `json:"leader"`
		Value  string `json:"value"`
	}
	testcluster.WaitFor(t, 10*time.Second, "/v1/elections/api/e", func() bool {
		code, body = get(base + "/v1/elections/api/e")
		return code == http.StatusOK && json.Unmarshal([]byte(body), &el) == nil && el.Leader == s1.PID() && el.Value == "v2"
	})
	code, body = get(base + "/v1/elections")
	var list struct {
		Elections []struct {
			Name string `json:"name"`
		} `json:"elections"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Elections) != 1 || list.Elections[0].Name != "api/e" {
		t.Fatalf("/v1/elections: %d %s", code, body)
	}
	code, body = get(base + "/ui/")
	if code != http.StatusOK || !strings.Contains(body, `id="semaphores"`) || !strings.Contains(body, `id="elections"`) {
		t.Fatalf("status page lacks the semaphore and election sections: %d", code)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
