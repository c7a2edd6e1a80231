package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// serveNode serves a one-node cluster's API (with names unless without)
// and returns an SDK client for it.
func serveNode(t *testing.T, withNames bool) (*client.Client, string) {
	t.Helper()
	c := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1})
	n := c.WaitLeader(10 * time.Second)
	svcs := api.ServicesOf(n.Node)
	if !withNames {
		svcs.Names = nil
	}
	srv, err := api.New(api.DefaultLocalConfig(), svcs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	cl, err := client.New(srv.GRPCAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cl.Close()
		cancel()
		<-done
	})
	return cl, "http://" + srv.HTTPAddr().String()
}

func TestNamesServiceCodes(t *testing.T) {
	cl, base := serveNode(t, true)
	a, err := cl.Session(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := cl.Session(tctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bd, err := a.Register(tctx(t), "svc/x", client.ScopeConsistent, []byte("addr"))
	if err != nil || bd.PID != a.PID() || bd.Scope != client.ScopeConsistent || bd.Index == 0 {
		t.Fatalf("register = %+v, %v", bd, err)
	}
	_, err = b.Register(tctx(t), "svc/x", client.ScopeConsistent, nil)
	if !client.IsNameTaken(err) || !strings.Contains(status.Convert(err).Message(), a.PID()) {
		t.Fatalf("second register = %v, want AlreadyExists naming %s", err, a.PID())
	}
	for what, tc := range map[string]struct {
		scope client.Scope
		name  string
		field string
	}{
		"no scope":  {client.ScopeAll, "ok", "scope"},
		"bad name":  {client.ScopeLocal, "_sys/x", "name"},
		"too long":  {client.ScopeEventual, strings.Repeat("x", 300), "name"},
		"bad scope": {client.Scope(9), "ok", "scope"},
	} {
		_, err := b.Register(tctx(t), tc.name, tc.scope, nil)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.field) {
			t.Errorf("%s: %v, want InvalidArgument naming %s", what, err, tc.field)
		}
	}
	if err := b.Unregister(tctx(t), "svc/x"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("unregister by another session = %v, want FailedPrecondition", err)
	}
	if _, err := cl.Names().Lookup(tctx(t), "svc/none"); status.Code(err) != codes.NotFound {
		t.Fatalf("lookup of nothing = %v", err)
	}
	got, err := cl.Names().Lookup(tctx(t), "svc/x", client.Consistent())
	if err != nil || got.PID != a.PID() || string(got.Metadata) != "addr" {
		t.Fatalf("lookup = %+v, %v", got, err)
	}

	// A watch starts with the current bindings, then SYNCED, then changes.
	wctx, cancel := context.WithCancel(tctx(t))
	defer cancel()
	events, _, err := cl.Names().Watch(wctx, "svc/")
	if err != nil {
		t.Fatal(err)
	}
	next := func() client.NameEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no watch event")
		}
		return client.NameEvent{}
	}
	if ev := next(); ev.Kind != client.NameBound || ev.Binding.Name != "svc/x" {
		t.Fatalf("first watch event %+v", ev)
	}
	if ev := next(); ev.Kind != client.NameSynced {
		t.Fatalf("second watch event %+v", ev)
	}
	if err := a.Unregister(tctx(t), "svc/x"); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Kind != client.NameUnbound || ev.Binding.PID != a.PID() {
		t.Fatalf("unregister event %+v", ev)
	}
	if _, err := b.Register(tctx(t), "svc/l", client.ScopeLocal, nil); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Kind != client.NameBound || ev.Binding.Scope != client.ScopeLocal {
		t.Fatalf("local register event %+v", ev)
	}
	bs, err := cl.Names().List(tctx(t), "svc/", client.ScopeAll)
	if err != nil || len(bs) != 1 || bs[0].Name != "svc/l" {
		t.Fatalf("list = %+v, %v", bs, err)
	}
	// The same over REST.
	code, body := httpGet(t, base+"/v1/names?prefix=svc/")
	if code != http.StatusOK || !strings.Contains(body, `"svc/l"`) || !strings.Contains(body, `"local"`) {
		t.Fatalf("GET /v1/names: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/v1/names/svc/none"); code != http.StatusNotFound || !strings.Contains(body, "NotFound") {
		t.Fatalf("GET /v1/names/svc/none: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/v1/names?scope=bogus"); code != http.StatusBadRequest || !strings.Contains(body, "scope") {
		t.Fatalf("GET /v1/names?scope=bogus: %d %s", code, body)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNamesServiceIsOptional(t *testing.T) {
	cl, base := serveNode(t, false)
	if _, err := cl.Names().Lookup(tctx(t), "x"); status.Code(err) != codes.Unimplemented {
		t.Fatalf("lookup on a node without names = %v, want Unimplemented", err)
	}
	if code, _ := httpGet(t, base+"/v1/names"); code != http.StatusNotFound {
		t.Fatalf("GET /v1/names on a node without names: %d", code)
	}
}
