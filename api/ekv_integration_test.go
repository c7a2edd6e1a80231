package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// The eventual store through the API of a node cut off from the majority:
// a gRPC put there succeeds (a Raft put does not), the entry carries its
// clock, and after the heal a REST read of another node returns the value
// with the same clock. Requests the eventual store cannot honour are
// refused naming the field.
func TestEventualKVThroughAPIOnMinority(t *testing.T) {
	oc := newOpsCluster(t, 3)
	leader := oc.WaitLeader(20 * time.Second)
	var minority, other *testcluster.Node
	for _, n := range oc.Running() {
		if n == leader {
			continue
		}
		if minority == nil {
			minority = n
		} else {
			other = n
		}
	}
	_, grpcAddr, _ := oc.serve(t, minority)
	otherBase, _, _ := oc.serve(t, other)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kvc := pb.NewKVClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, tc := range []struct {
		field string
		call  func() error
	}{
		{"cas_version", func() error {
			v := uint64(1)
			_, err := kvc.Put(ctx, &pb.PutRequest{Key: "k", Value: []byte("v"), CasVersion: &v, Store: pb.Store_STORE_EVENTUAL})
			return err
		}},
		{"store", func() error {
			_, err := kvc.Get(ctx, &pb.GetRequest{Key: "k", Store: pb.Store(7)})
			return err
		}},
		{"mode", func() error {
			_, err := kvc.List(ctx, &pb.ListRequest{Mode: pb.ReadMode_READ_MODE_CONSISTENT, Store: pb.Store_STORE_EVENTUAL})
			return err
		}},
		{"value", func() error {
			_, err := kvc.Put(ctx, &pb.PutRequest{Key: "k", Value: make([]byte, 65<<10), Store: pb.Store_STORE_EVENTUAL})
			return err
		}},
	} {
		err := tc.call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Fatalf("%s: %v, want InvalidArgument naming it", tc.field, err)
		}
	}
	if es, _ := minority.EventualKV().List(ctx, "", 0); len(es) != 0 {
		t.Fatalf("refused requests wrote %v", es)
	}

	oc.Isolate(minority)
	raftCtx, raftCancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = kvc.Put(raftCtx, &pb.PutRequest{Key: "raft", Value: []byte("v")})
	raftCancel()
	if err == nil {
		t.Fatal("a Raft put on a node cut off from the majority succeeded")
	}
	put, err := kvc.Put(ctx, &pb.PutRequest{Key: "cut/k", Value: []byte("v"), Store: pb.Store_STORE_EVENTUAL})
	if err != nil {
		t.Fatalf("eventual put on the minority node: %v", err)
	}
	clock := put.GetEntry().GetClock()
	if clock.GetOrigin() != minority.Name || clock.GetWallNs() == 0 {
		t.Fatalf("put answered clock %v, want one of %s", clock, minority.Name)
	}
	got, err := kvc.Get(ctx, &pb.GetRequest{Key: "cut/k", Store: pb.Store_STORE_EVENTUAL})
	if err != nil || string(got.GetEntry().GetValue()) != "v" {
		t.Fatalf("eventual get on the minority node: %v, %v", got, err)
	}

	oc.Heal()
	type entry struct {
		Key   string `json:"key"`
		Value []byte `json:"value"`
		Clock *struct {
			WallNs  int64  `json:"wall_ns"`
			Logical uint32 `json:"logical"`
			Origin  string `json:"origin"`
		} `json:"clock"`
	}
	var e entry
	testcluster.WaitFor(t, 30*time.Second, "the minority's write read through another node's REST API", func() bool {
		resp, err := http.Get(otherBase + "/v1/kv/cut/k?store=eventual")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && json.Unmarshal(b, &e) == nil
	})
	if string(e.Value) != "v" || e.Clock == nil || e.Clock.WallNs != clock.GetWallNs() || e.Clock.Origin != minority.Name {
		t.Fatalf("REST read %+v, want v at clock %v", e, clock)
	}
	// REST writes: put, list with the clock, a refused cas, delete.
	do := func(method, url, body string) (int, string) {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var put2 entry
	if code, body := do(http.MethodPut, otherBase+"/v1/kv/rest/k?store=eventual", "r"); code != http.StatusOK ||
		json.Unmarshal([]byte(body), &put2) != nil || put2.Clock == nil || put2.Clock.Origin != other.Name {
		t.Fatalf("REST eventual put: %d %s, want the entry with %s as origin", code, body, other.Name)
	}
	if code, body := do(http.MethodPut, otherBase+"/v1/kv/rest/k?store=eventual&cas=1", "r"); code != http.StatusBadRequest || !strings.Contains(body, "cas") {
		t.Fatalf("REST eventual put with cas: %d %s, want 400 naming cas", code, body)
	}
	var list struct {
		Entries []entry `json:"entries"`
	}
	code, body := do(http.MethodGet, otherBase+"/v1/kv?prefix=rest/&store=eventual", "")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Entries) != 1 ||
		string(list.Entries[0].Value) != "r" || list.Entries[0].Clock == nil {
		t.Fatalf("REST eventual list: %d %s", code, body)
	}
	if code, body := do(http.MethodDelete, otherBase+"/v1/kv/rest/k?store=eventual", ""); code != http.StatusOK {
		t.Fatalf("REST eventual delete: %d %s", code, body)
	}
	if code, _ := do(http.MethodGet, otherBase+"/v1/kv/rest/k?store=eventual", ""); code != http.StatusNotFound {
		t.Fatalf("REST eventual get after delete: %d, want 404", code)
	}
	// The Raft keyspace is another one: the key is not there.
	if code, _ := do(http.MethodGet, otherBase+"/v1/kv/cut/k?mode=stale", ""); code != http.StatusNotFound {
		t.Fatalf("the eventual key read from the Raft store: %d, want 404", code)
	}

	resp, err := http.Get(otherBase + "/v1/kv/cut/k?store=bogus")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "store") {
		t.Fatalf("?store=bogus: %d %s, want 400 naming store", resp.StatusCode, b)
	}
}
