package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

func txnPut(key, value string) *pb.TxnOp {
	return &pb.TxnOp{Op: &pb.TxnOp_Put{Put: &pb.TxnPut{Key: key, Value: []byte(value)}}}
}

func txnDelete(key string) *pb.TxnOp {
	return &pb.TxnOp{Op: &pb.TxnOp_Delete{Delete: &pb.TxnDelete{Key: key}}}
}

// kvState is every key of the node with its value and version, read
// with the management token: what "changed nothing" compares.
func kvState(t *testing.T, s *aclServer, mgmt string) string {
	t.Helper()
	resp, err := s.kv.List(as(t, mgmt), &pb.ListRequest{Mode: pb.ReadMode_READ_MODE_CONSISTENT})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var b strings.Builder
	for _, e := range resp.GetEntries() {
		fmt.Fprintf(&b, "%s=%s@%d ", e.GetKey(), e.GetValue(), e.GetVersion())
	}
	return b.String()
}

// TestKVDeletePrefixAndTxn drives the prefix delete and the transaction
// through the real API over one real node with ACLs on: what they do,
// what they refuse, and that a refused or failed one changes nothing.
func TestKVDeletePrefixAndTxn(t *testing.T) {
	s := newACLCluster(t, 1, true)[0]
	mgmt := bootstrap(t, s).GetSecretId()
	put := func(key, value string) uint64 {
		t.Helper()
		resp, err := s.kv.Put(as(t, mgmt), &pb.PutRequest{Key: key, Value: []byte(value)})
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		return resp.GetEntry().GetVersion()
	}
	v1 := put("app/1", "one")
	put("app/2", "two")
	put("app/secret/1", "s")
	put("other", "o")

	t.Run("txn applies every op when every compare holds", func(t *testing.T) {
		resp, err := s.kv.Txn(as(t, mgmt), &pb.TxnRequest{
			Compares: []*pb.TxnCompare{{Key: "app/1", Version: v1}, {Key: "app/3", Version: 0}},
			Ops:      []*pb.TxnOp{txnPut("app/1", "uno"), txnPut("app/3", "three"), txnDelete("app/2"), txnDelete("app/none")},
		})
		if err != nil || !resp.GetSucceeded() || len(resp.GetResults()) != 4 {
			t.Fatalf("txn = %v, %v", resp, err)
		}
		r := resp.GetResults()
		if r[0].GetEntry().GetVersion() != resp.GetIndex() || r[1].GetEntry().GetCreateIndex() != resp.GetIndex() ||
			!r[2].GetDeleted() || r[3].GetDeleted() || r[3].GetEntry() != nil {
			t.Fatalf("txn results %v", r)
		}
		v1 = resp.GetIndex()
		if got := kvState(t, s, mgmt); !strings.Contains(got, "app/1=uno@") || !strings.Contains(got, "app/3=three@") || strings.Contains(got, "app/2=") {
			t.Fatalf("after the txn: %s", got)
		}
	})

	t.Run("a failed compare changes nothing and says which", func(t *testing.T) {
		before := kvState(t, s, mgmt)
		resp, err := s.kv.Txn(as(t, mgmt), &pb.TxnRequest{
			Compares: []*pb.TxnCompare{{Key: "app/1", Version: v1}, {Key: "app/3", Version: 0}},
			Ops:      []*pb.TxnOp{txnPut("app/1", "changed"), txnDelete("other")},
		})
		if err != nil || resp.GetSucceeded() || resp.GetFailedCompare() != 1 || resp.GetActualVersion() != v1 {
			t.Fatalf("txn = %v, %v; want compare 1 failed at version %d", resp, err, v1)
		}
		if after := kvState(t, s, mgmt); after != before {
			t.Fatalf("a failed txn changed the store:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("bad requests are InvalidArgument naming the field", func(t *testing.T) {
		before := kvState(t, s, mgmt)
		many := make([]*pb.TxnOp, 65)
		for i := range many {
			many[i] = txnPut(fmt.Sprintf("app/m%d", i), "")
		}
		for field, call := range map[string]func() error{
			"prefix": func() error { _, err := s.kv.DeletePrefix(as(t, mgmt), &pb.DeletePrefixRequest{}); return err },
			`prefix: the prefix "_sys"`: func() error {
				_, err := s.kv.DeletePrefix(as(t, mgmt), &pb.DeletePrefixRequest{Prefix: "_sys/"})
				return err
			},
			"65 ops, the limit is 64": func() error { _, err := s.kv.Txn(as(t, mgmt), &pb.TxnRequest{Ops: many}); return err },
			"ops[0]: must be a put or a delete": func() error {
				_, err := s.kv.Txn(as(t, mgmt), &pb.TxnRequest{Ops: []*pb.TxnOp{{}}})
				return err
			},
			`ops[1].key: "app/1" is also written by ops[0]`: func() error {
				_, err := s.kv.Txn(as(t, mgmt), &pb.TxnRequest{Ops: []*pb.TxnOp{txnPut("app/1", "a"), txnDelete("app/1")}})
				return err
			},
		} {
			if code, msg := codeAndMessage(call()); code != codes.InvalidArgument || !strings.Contains(msg, field) {
				t.Errorf("%s: %v %q, want InvalidArgument naming it", field, code, msg)
			}
		}
		if after := kvState(t, s, mgmt); after != before {
			t.Fatalf("refused calls changed the store:\nbefore %s\nafter  %s", before, after)
		}
	})

	// A token that may write app/ but only read app/secret/ and nothing
	// else.
	limited, _ := grant(t, s, mgmt, "app-writer", 0, "kv app/ write", "kv app/secret/ read")

	t.Run("a txn with an op outside the token's write is refused whole", func(t *testing.T) {
		before := kvState(t, s, mgmt)
		for name, tc := range map[string]struct {
			req   *pb.TxnRequest
			needs string
		}{
			"op under a read-only prefix": {&pb.TxnRequest{Ops: []*pb.TxnOp{txnPut("app/new", "x"), txnPut("app/secret/1", "x")}},
				`kv "app/secret/1" needs write access`},
			"delete outside the token": {&pb.TxnRequest{Ops: []*pb.TxnOp{txnPut("app/new", "x"), txnDelete("other")}},
				`kv "other" needs write access`},
			"compare on a key it may not read": {&pb.TxnRequest{Compares: []*pb.TxnCompare{{Key: "other", Version: 0}}, Ops: []*pb.TxnOp{txnPut("app/new", "x")}},
				`kv "other" needs read access`},
		} {
			_, err := s.kv.Txn(as(t, limited), tc.req)
			if code, msg := codeAndMessage(err); code != codes.PermissionDenied || !strings.Contains(msg, tc.needs) {
				t.Errorf("%s: %v %q, want PermissionDenied naming %q", name, code, msg, tc.needs)
			}
		}
		if after := kvState(t, s, mgmt); after != before {
			t.Fatalf("refused txns changed the store:\nbefore %s\nafter  %s", before, after)
		}
		// Within its rules the same token's txn goes through: the
		// refusals above were about the keys, not the call.
		resp, err := s.kv.Txn(as(t, limited), &pb.TxnRequest{
			Compares: []*pb.TxnCompare{{Key: "app/secret/1", Version: 0}}, Ops: []*pb.TxnOp{txnPut("app/new", "x")},
		})
		if err != nil || resp.GetSucceeded() || resp.GetFailedCompare() != 0 {
			t.Fatalf("an allowed txn whose compare fails = %v, %v", resp, err)
		}
	})

	t.Run("a prefix delete over keys the token may not write is refused", func(t *testing.T) {
		before := kvState(t, s, mgmt)
		_, err := s.kv.DeletePrefix(as(t, limited), &pb.DeletePrefixRequest{Prefix: "app/"})
		if code, msg := codeAndMessage(err); code != codes.PermissionDenied || !strings.Contains(msg, `kv "app/secret/" needs write access`) {
			t.Errorf("gRPC: %v %q, want PermissionDenied naming the app/secret/ rule", code, msg)
		}
		st, code, msg := restCall(t, "DELETE", s.base+"/v1/kv?prefix=app/", bearer(limited))
		if st != http.StatusForbidden || code != codes.PermissionDenied || !strings.Contains(msg, `kv "app/secret/" needs write access`) {
			t.Errorf("REST: HTTP %d %v %q, want 403 naming the app/secret/ rule", st, code, msg)
		}
		if after := kvState(t, s, mgmt); after != before {
			t.Fatalf("refused prefix deletes changed the store:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("a prefix delete deletes the prefix in one call", func(t *testing.T) {
		resp, err := s.kv.DeletePrefix(as(t, limited), &pb.DeletePrefixRequest{Prefix: "app/secret"})
		if code, _ := codeAndMessage(err); code != codes.PermissionDenied {
			t.Fatalf("delete of app/secret by a reader of it: %v, %v", resp, err)
		}
		writer, _ := grant(t, s, mgmt, "app-all", 0, "kv app/ write")
		req, _ := http.NewRequestWithContext(as(t, ""), "DELETE", s.base+"/v1/kv?prefix=app/", nil)
		req.Header.Set("Authorization", "Bearer "+writer)
		hresp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(hresp.Body)
		hresp.Body.Close()
		var out struct {
			Prefix  string
			Deleted int
		}
		if err := json.Unmarshal(body, &out); err != nil || hresp.StatusCode != 200 || out.Deleted != 3 || out.Prefix != "app/" {
			t.Fatalf("DELETE /v1/kv?prefix=app/: HTTP %d %s (%v)", hresp.StatusCode, body, err)
		}
		if got := kvState(t, s, mgmt); strings.Count(got, "=") != 1 || !strings.HasPrefix(got, "other=o@") {
			t.Fatalf("left after the prefix delete: %s", got)
		}
		dresp, err := s.kv.DeletePrefix(as(t, mgmt), &pb.DeletePrefixRequest{Prefix: "app/"})
		if err != nil || dresp.GetDeleted() != 0 {
			t.Fatalf("second delete of app/ = %v, %v; want 0", dresp, err)
		}
	})
}

// TestKVTxnThroughAFollower: a transaction and a prefix delete sent to a
// node that does not lead are forwarded, applied once, and every replica
// ends with the same keys at the same versions.
func TestKVTxnThroughAFollower(t *testing.T) {
	servers := newACLCluster(t, 3, false)
	var via *aclServer
	for _, s := range servers {
		if s.node.RaftStatus().State != "leader" {
			via = s
			break
		}
	}
	if via == nil {
		t.Fatal("no follower among the nodes")
	}
	for _, k := range []string{"app/1", "app/2", "keep"} {
		if _, err := via.kv.Put(as(t, ""), &pb.PutRequest{Key: k, Value: []byte(k)}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	resp, err := via.kv.Txn(as(t, ""), &pb.TxnRequest{
		Compares: []*pb.TxnCompare{{Key: "moved", Version: 0}},
		Ops:      []*pb.TxnOp{txnPut("moved", "app/1"), txnPut("keep", "kept"), txnDelete("app/2")},
	})
	if err != nil || !resp.GetSucceeded() {
		t.Fatalf("txn through %s: %v, %v", via.node.Name, resp, err)
	}
	d, err := via.kv.DeletePrefix(as(t, ""), &pb.DeletePrefixRequest{Prefix: "app/"})
	if err != nil || d.GetDeleted() != 1 {
		t.Fatalf("delete prefix through %s: %v, %v; want 1 (app/1)", via.node.Name, d, err)
	}
	want := fmt.Sprintf("keep=kept@%d moved=app/1@%d ", resp.GetIndex(), resp.GetIndex())
	stale := func(s *aclServer) string {
		r, err := s.kv.List(as(t, ""), &pb.ListRequest{Mode: pb.ReadMode_READ_MODE_STALE})
		if err != nil {
			return err.Error()
		}
		var b strings.Builder
		for _, e := range r.GetEntries() {
			fmt.Fprintf(&b, "%s=%s@%d ", e.GetKey(), e.GetValue(), e.GetVersion())
		}
		return b.String()
	}
	for _, s := range servers {
		testcluster.WaitFor(t, 10*time.Second, s.node.Name+" has the txn and the prefix delete", func() bool { return stale(s) == want })
	}
}
