package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/internal/testcluster"
)

// door is one way into the API: a gRPC method or a REST route, called with
// a secret ("" for none), and what it needs.
type door struct {
	call string
	// needs is the refusal of a caller without the access, as the message
	// says it (`kv "tbl/x" needs write access`); "" for a call that needs a
	// valid token and nothing else.
	needs string
	// res is the resource whose writer token is the right caller; "" for a
	// call any valid token may make.
	res string
	// noRight, when set, says why the right caller is not tried.
	noRight string
	do      func(t *testing.T, secret string) (codes.Code, string)
}

func (d door) write() bool { return strings.HasSuffix(d.needs, "needs write access") }

// grpcDoor is a door that is a unary or streaming gRPC call; call returns
// its error (for a stream, that of the first message).
func grpcDoor(name, needs, res string, call func(ctx context.Context) error) door {
	return door{call: name, needs: needs, res: res, do: func(t *testing.T, secret string) (codes.Code, string) {
		ctx, cancel := context.WithCancel(as(t, secret))
		defer cancel() // ends a stream the call opened
		return codeAndMessage(call(ctx))
	}}
}

// restDoor is a door that is an HTTP route; a refusal must come with the
// HTTP status of its code.
func restDoor(method, path, needs, res string, base func() string) door {
	return door{call: method + " " + path, needs: needs, res: res, do: func(t *testing.T, secret string) (codes.Code, string) {
		st, code, msg := restCall(t, method, base()+path, bearer(secret))
		if want := map[codes.Code]int{codes.Unauthenticated: http.StatusUnauthorized, codes.PermissionDenied: http.StatusForbidden}[code]; want != 0 && st != want {
			t.Errorf("%s %s: HTTP %d for %s, want %d", method, path, st, code, want)
		}
		return code, msg
	}}
}

// stream1 is the first message's error of a server stream.
func stream1[T any](st interface{ Recv() (T, error) }, err error) error {
	if err != nil {
		return err
	}
	_, err = st.Recv()
	return err
}

// TestACLSingleNode drives the ACLs of one real node with
// default_policy deny through the real API: every door with every kind
// of caller, listings, bootstrap, bad input, sessions and their tokens,
// and the refusal metric. The subtests share the node and its tokens.
func TestACLSingleNode(t *testing.T) {
	s := newACLCluster(t, 1, true)[0]
	boot := bootstrap(t, s)
	mgmt := boot.GetSecretId()
	self := s.node.Name

	// The callers: a token whose only rule is for a resource no call
	// uses, one that may read everything, and one writer per resource.
	unrelated, unrelatedAcc := grant(t, s, mgmt, "unrelated", 0, "service unused/ read")
	readOnly, readOnlyAcc := grant(t, s, mgmt, "read-only", 0,
		"kv * read", "lock * read", "name * read", "group * read", "service * read", "operator * read", "acl * read")
	writers := map[string]string{}
	known := []string{mgmt, boot.GetToken().GetAccessorId(), unrelated, unrelatedAcc, readOnly, readOnlyAcc}
	for _, res := range []string{"kv", "lock", "name", "group", "operator", "acl"} {
		sec, acc := grant(t, s, mgmt, res+"-writer", 0, res+" * write")
		writers[res] = sec
		known = append(known, sec, acc)
	}

	t.Run("doors", func(t *testing.T) {
		testDoors(t, s, self, unrelated, readOnly, writers, known)
	})

	t.Run("malformed and unknown tokens", func(t *testing.T) {
		for name, md := range map[string][]string{
			"not bearer":    {"authorization", "Basic " + mgmt},
			"empty bearer":  {"authorization", "Bearer "},
			"not a uuid":    {"authorization", "Bearer not-a-secret"},
			"unknown uuid":  {"authorization", "Bearer 6f1c2a52-8f0e-4b7e-9a43-2d4a1b7c9e10"},
			"two of them":   {"authorization", "Bearer " + mgmt, "authorization", "Bearer " + mgmt},
			"accessor only": {"authorization", "Bearer " + boot.GetToken().GetAccessorId()},
		} {
			ctx := metadata.AppendToOutgoingContext(as(t, ""), md...)
			_, err := s.kv.Get(ctx, &pb.GetRequest{Key: "tbl/x"})
			if code, msg := codeAndMessage(err); code != codes.Unauthenticated {
				t.Errorf("gRPC, %s: %v %q, want Unauthenticated", name, code, msg)
			}
		}
		for name, h := range map[string]map[string]string{
			"not bearer":   {"Authorization": "Basic " + mgmt},
			"not a uuid":   {"Authorization": "Bearer not-a-secret"},
			"unknown uuid": {"X-Conclave-Token": "6f1c2a52-8f0e-4b7e-9a43-2d4a1b7c9e10"},
		} {
			if st, code, msg := restCall(t, "GET", s.base+"/v1/kv/tbl/x", h); st != http.StatusUnauthorized || code != codes.Unauthenticated {
				t.Errorf("REST, %s: HTTP %d %v %q, want 401 Unauthenticated", name, st, code, msg)
			}
		}
		// X-Conclave-Token is as good as Authorization on REST.
		if st, code, msg := restCall(t, "PUT", s.base+"/v1/kv/tbl/x", map[string]string{"X-Conclave-Token": writers["kv"]}); st != http.StatusOK {
			t.Errorf("PUT with X-Conclave-Token of a kv writer: HTTP %d %v %q", st, code, msg)
		}
		if st, code, msg := restCall(t, "PUT", s.base+"/v1/kv/tbl/x", map[string]string{"X-Conclave-Token": readOnly}); st != http.StatusForbidden ||
			!strings.Contains(msg, `kv "tbl/x" needs write access`) {
			t.Errorf("PUT with X-Conclave-Token of a reader: HTTP %d %v %q", st, code, msg)
		}
		// Health answers without a token: it is what load balancers ask.
		if st, code, msg := restCall(t, "GET", s.base+"/v1/health/live", nil); st != http.StatusOK {
			t.Errorf("GET /v1/health/live without a token: HTTP %d %v %q", st, code, msg)
		}
	})

	t.Run("listings return what the token may read", func(t *testing.T) {
		testListings(t, s, mgmt)
	})

	t.Run("bootstrap twice", func(t *testing.T) {
		for _, secret := range []string{"", mgmt} {
			_, err := s.acl.Bootstrap(as(t, secret), &pb.ACLBootstrapRequest{})
			code, msg := codeAndMessage(err)
			if want := fmt.Sprintf("index %d", boot.GetToken().GetCreateIndex()); code != codes.FailedPrecondition || !strings.Contains(msg, want) {
				t.Errorf("second bootstrap: %v %q, want FailedPrecondition naming %q", code, msg, want)
			}
		}
		// The management token still works.
		if _, err := s.acl.Whoami(as(t, mgmt), &pb.ACLWhoamiRequest{}); err != nil {
			t.Errorf("whoami with the first management token: %v", err)
		}
	})

	t.Run("bad policies and tokens", func(t *testing.T) {
		testBadACLInput(t, s, mgmt)
	})

	t.Run("deleted token ends its session", func(t *testing.T) {
		testTokenDeleted(t, s, mgmt)
	})

	t.Run("expired token ends its session", func(t *testing.T) {
		// The token expires 2s after the node made it, which is after start.
		start := time.Now()
		secret, _ := grant(t, s, mgmt, "short-lived", 2*time.Second, "lock jobs/ write")
		st, pid := openSession(t, s, secret)
		if _, err := s.lock.Acquire(as(t, secret), &pb.LockAcquireRequest{Pid: pid, Name: "jobs/ttl"}); err != nil {
			t.Fatalf("acquire with the short-lived token: %v", err)
		}
		_, err := streamEnd(st)
		if code, msg := codeAndMessage(err); code != codes.PermissionDenied || !strings.Contains(msg, pid) {
			t.Fatalf("the stream ended with %v %q, want PermissionDenied naming %s", code, msg, pid)
		}
		if took := time.Since(start); took < 2*time.Second {
			t.Fatalf("the session ended %s after the token was made, before its 2s TTL", took)
		}
		// The session's end released its lock (Inspect of a free lock is
		// NotFound).
		info, err := s.lock.Inspect(as(t, mgmt), &pb.LockInspectRequest{Name: "jobs/ttl"})
		if code, _ := codeAndMessage(err); code != codes.NotFound {
			t.Fatalf("jobs/ttl after the session ended: %v, %v; want it free", info, err)
		}
	})

	t.Run("a session cannot outgrow its token", func(t *testing.T) {
		secret, _ := grant(t, s, mgmt, "jobs-only", 0, "lock jobs/ write")
		_, pid := openSession(t, s, secret)
		// The caller (management) may write every lock; the session's
		// own token may not write other/x.
		_, err := s.lock.Acquire(as(t, mgmt), &pb.LockAcquireRequest{Pid: pid, Name: "other/x"})
		code, msg := codeAndMessage(err)
		if code != codes.PermissionDenied || !strings.Contains(msg, `lock "other/x" needs write access`) || !strings.Contains(msg, "token of session "+pid) {
			t.Fatalf("acquire other/x for %s as management: %v %q, want PermissionDenied naming the session's token", pid, code, msg)
		}
		if _, err := s.lock.Acquire(as(t, mgmt), &pb.LockAcquireRequest{Pid: pid, Name: "jobs/mine"}); err != nil {
			t.Fatalf("acquire jobs/mine for %s as management: %v", pid, err)
		}
	})

	t.Run("refusals are counted", func(t *testing.T) {
		kvBefore, lockBefore := deniedCount(t, s.reg, "kv"), deniedCount(t, s.reg, "lock")
		refusals := []error{
			func() error { _, err := s.kv.Get(as(t, ""), &pb.GetRequest{Key: "m/1"}); return err }(),
			func() error { _, err := s.kv.Put(as(t, readOnly), &pb.PutRequest{Key: "m/1"}); return err }(),
			func() error { _, err := s.kv.List(as(t, unrelated), &pb.ListRequest{}); return err }(),
		}
		for i, err := range refusals {
			if code, _ := codeAndMessage(err); !isACLCode(code) {
				t.Fatalf("refusal %d: %v", i, err)
			}
		}
		if st, _, _ := restCall(t, "DELETE", s.base+"/v1/kv/m/1", bearer(readOnly)); st != http.StatusForbidden {
			t.Fatalf("DELETE as a reader: HTTP %d", st)
		}
		if _, err := s.kv.Put(as(t, writers["kv"]), &pb.PutRequest{Key: "m/1"}); err != nil {
			t.Fatal(err)
		}
		if got := deniedCount(t, s.reg, "kv") - kvBefore; got != 4 {
			t.Errorf("conclave_acl_denied_total{resource=\"kv\"} rose by %v, want 4", got)
		}
		if got := deniedCount(t, s.reg, "lock") - lockBefore; got != 0 {
			t.Errorf("conclave_acl_denied_total{resource=\"lock\"} rose by %v, want 0", got)
		}
		// And /metrics serves it, to an operator.
		req, _ := http.NewRequestWithContext(as(t, ""), "GET", s.base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+writers["operator"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		want := fmt.Sprintf("conclave_acl_denied_total{resource=\"kv\"} %v\n", deniedCount(t, s.reg, "kv"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET /metrics as operator: HTTP %d, no %q in:\n%s", resp.StatusCode, want, body)
		}
	})
}

// testDoors calls every gRPC method and REST route as four callers: none,
// a token without the rule, a read-only token, and the right token.
func testDoors(t *testing.T, s *aclServer, self, unrelated, readOnly string, writers map[string]string, known []string) {
	opsRead := fmt.Sprintf("operator %q needs read access", self)
	opsWrite := fmt.Sprintf("operator %q needs write access", self)
	const (
		kvX       = `kv "tbl/x" needs `
		lockX     = `lock "tbl/x" needs `
		nameX     = `name "tbl/x" needs `
		groupX    = `group "tbl" needs `
		aclRead   = `acl (any) needs read access`
		aclWrite  = `acl (any) needs write access`
		ghost     = "ghost/1" // a pid with no session
		badKey    = "not-a-key"
		noSuchAcc = "6f1c2a52-8f0e-4b7e-9a43-2d4a1b7c9e10"
	)
	base := func() string { return s.base }
	doors := []door{
		grpcDoor("KV.Get", kvX+"read access", "kv", func(ctx context.Context) error { _, err := s.kv.Get(ctx, &pb.GetRequest{Key: "tbl/x"}); return err }),
		grpcDoor("KV.Put", kvX+"write access", "kv", func(ctx context.Context) error {
			_, err := s.kv.Put(ctx, &pb.PutRequest{Key: "tbl/x", Value: []byte("v")})
			return err
		}),
		grpcDoor("KV.Delete", kvX+"write access", "kv", func(ctx context.Context) error {
			_, err := s.kv.Delete(ctx, &pb.DeleteRequest{Key: "tbl/x"})
			return err
		}),
		grpcDoor("KV.List", "kv (any) needs read access", "kv", func(ctx context.Context) error { _, err := s.kv.List(ctx, &pb.ListRequest{}); return err }),
		grpcDoor("KV.DeletePrefix", kvX+"write access", "kv", func(ctx context.Context) error {
			_, err := s.kv.DeletePrefix(ctx, &pb.DeletePrefixRequest{Prefix: "tbl/x"})
			return err
		}),
		grpcDoor("KV.Txn", kvX+"write access", "kv", func(ctx context.Context) error {
			// The compares' read is checked in TestKVDeletePrefixAndTxn.
			_, err := s.kv.Txn(ctx, &pb.TxnRequest{Ops: []*pb.TxnOp{{Op: &pb.TxnOp_Put{Put: &pb.TxnPut{Key: "tbl/x", Value: []byte("v")}}}}})
			return err
		}),

		grpcDoor("Lock.Acquire", lockX+"write access", "lock", func(ctx context.Context) error {
			_, err := s.lock.Acquire(ctx, &pb.LockAcquireRequest{Pid: ghost, Name: "tbl/x"})
			return err
		}),
		grpcDoor("Lock.Release", lockX+"write access", "lock", func(ctx context.Context) error {
			_, err := s.lock.Release(ctx, &pb.LockReleaseRequest{Pid: ghost, Name: "tbl/x"})
			return err
		}),
		grpcDoor("Lock.Inspect", lockX+"read access", "lock", func(ctx context.Context) error {
			_, err := s.lock.Inspect(ctx, &pb.LockInspectRequest{Name: "tbl/x"})
			return err
		}),
		grpcDoor("Lock.List", "lock (any) needs read access", "lock", func(ctx context.Context) error { _, err := s.lock.List(ctx, &pb.LockListRequest{}); return err }),

		grpcDoor("Names.Register", nameX+"write access", "name", func(ctx context.Context) error {
			_, err := s.names.Register(ctx, &pb.NameRegisterRequest{Pid: ghost, Name: "tbl/x", Scope: pb.NameScope_NAME_SCOPE_CONSISTENT})
			return err
		}),
		grpcDoor("Names.Unregister", nameX+"write access", "name", func(ctx context.Context) error {
			_, err := s.names.Unregister(ctx, &pb.NameUnregisterRequest{Pid: ghost, Name: "tbl/x"})
			return err
		}),
		grpcDoor("Names.Lookup", nameX+"read access", "name", func(ctx context.Context) error {
			_, err := s.names.Lookup(ctx, &pb.NameLookupRequest{Name: "tbl/x"})
			return err
		}),
		grpcDoor("Names.List", "name (any) needs read access", "name", func(ctx context.Context) error { _, err := s.names.List(ctx, &pb.NameListRequest{}); return err }),
		grpcDoor("Names.Watch", `name "tbl/" needs read access`, "name", func(ctx context.Context) error {
			return stream1(s.names.Watch(ctx, &pb.NameWatchRequest{Prefix: "tbl/"}))
		}),

		grpcDoor("Groups.Join", groupX+"write access", "group", func(ctx context.Context) error {
			_, err := s.groups.Join(ctx, &pb.GroupJoinRequest{Pid: ghost, Group: "tbl"})
			return err
		}),
		grpcDoor("Groups.Leave", groupX+"write access", "group", func(ctx context.Context) error {
			_, err := s.groups.Leave(ctx, &pb.GroupLeaveRequest{Pid: ghost, Group: "tbl"})
			return err
		}),
		grpcDoor("Groups.Broadcast", groupX+"write access", "group", func(ctx context.Context) error {
			_, err := s.groups.Broadcast(ctx, &pb.GroupBroadcastRequest{Group: "tbl", Payload: []byte("hi")})
			return err
		}),
		grpcDoor("Groups.Members", groupX+"read access", "group", func(ctx context.Context) error {
			_, err := s.groups.Members(ctx, &pb.GroupMembersRequest{Group: "tbl"})
			return err
		}),
		grpcDoor("Groups.Groups", "group (any) needs read access", "group", func(ctx context.Context) error { _, err := s.groups.Groups(ctx, &pb.GroupsRequest{}); return err }),
		grpcDoor("Groups.Monitor", groupX+"read access", "group", func(ctx context.Context) error {
			return stream1(s.groups.Monitor(ctx, &pb.GroupMonitorRequest{Group: "tbl"}))
		}),

		grpcDoor("Session.Connect", "", "", func(ctx context.Context) error {
			st, err := s.session.Connect(ctx)
			if err != nil {
				return err
			}
			// A Send to a stream the server has ended fails io.EOF; Recv
			// has the status either way.
			_ = st.Send(&pb.SessionRequest{Kind: &pb.SessionRequest_Open{Open: &pb.SessionOpen{}}})
			_, err = st.Recv()
			return err
		}),

		grpcDoor("Cluster.Members", "operator (any) needs read access", "operator", func(ctx context.Context) error {
			_, err := s.cluster.Members(ctx, &pb.MembersRequest{})
			return err
		}),
		grpcDoor("Cluster.RaftStatus", opsRead, "operator", func(ctx context.Context) error {
			_, err := s.cluster.RaftStatus(ctx, &pb.RaftStatusRequest{})
			return err
		}),
		func() door {
			d := grpcDoor("Cluster.Leave", opsWrite, "operator", func(ctx context.Context) error { _, err := s.cluster.Leave(ctx, &pb.LeaveRequest{}); return err })
			d.noRight = "it would take the test's only node out of the cluster"
			return d
		}(),
		grpcDoor("Cluster.Admit", `operator "ghost" needs write access`, "operator", func(ctx context.Context) error {
			_, err := s.cluster.Admit(ctx, &pb.AdmitRequest{Node: "ghost"})
			return err
		}),

		grpcDoor("Keyring.List", opsRead, "operator", func(ctx context.Context) error { _, err := s.keyring.List(ctx, &pb.KeyringListRequest{}); return err }),
		grpcDoor("Keyring.Install", opsWrite, "operator", func(ctx context.Context) error {
			_, err := s.keyring.Install(ctx, &pb.KeyringKeyRequest{Key: badKey})
			return err
		}),
		grpcDoor("Keyring.Use", opsWrite, "operator", func(ctx context.Context) error {
			_, err := s.keyring.Use(ctx, &pb.KeyringKeyRequest{Key: badKey})
			return err
		}),
		grpcDoor("Keyring.Remove", opsWrite, "operator", func(ctx context.Context) error {
			_, err := s.keyring.Remove(ctx, &pb.KeyringKeyRequest{Key: badKey})
			return err
		}),

		grpcDoor("Operator.SnapshotSave", opsWrite, "operator", func(ctx context.Context) error {
			return stream1(s.ops.SnapshotSave(ctx, &pb.SnapshotSaveRequest{}))
		}),
		// The right caller's upload is not an archive: it is refused
		// after the guard, and changes nothing.
		grpcDoor("Operator.SnapshotRestore", opsWrite, "operator", func(ctx context.Context) error {
			st, err := s.ops.SnapshotRestore(ctx)
			if err != nil {
				return err
			}
			_ = st.Send(&pb.SnapshotChunk{Data: []byte("not a snapshot")}) // io.EOF once refused: CloseAndRecv says why
			_, err = st.CloseAndRecv()
			return err
		}),
		grpcDoor("Operator.RemovePeer", `operator "ghost" needs write access`, "operator", func(ctx context.Context) error {
			_, err := s.ops.RemovePeer(ctx, &pb.RemovePeerRequest{Node: "ghost"})
			return err
		}),

		grpcDoor("ACL.Whoami", "", "", func(ctx context.Context) error { _, err := s.acl.Whoami(ctx, &pb.ACLWhoamiRequest{}); return err }),
		grpcDoor("ACL.PolicyCreate", aclWrite, "acl", func(ctx context.Context) error {
			_, err := s.acl.PolicyCreate(ctx, &pb.ACLPolicy{Name: "tbl", Rules: rules("kv tbl/ read")})
			return err
		}),
		grpcDoor("ACL.PolicyUpdate", aclWrite, "acl", func(ctx context.Context) error {
			_, err := s.acl.PolicyUpdate(ctx, &pb.ACLPolicy{Name: "tbl", Rules: rules("kv tbl/ write")})
			return err
		}),
		grpcDoor("ACL.PolicyRead", aclRead, "acl", func(ctx context.Context) error {
			_, err := s.acl.PolicyRead(ctx, &pb.ACLPolicyRequest{Name: "tbl"})
			return err
		}),
		grpcDoor("ACL.PolicyList", aclRead, "acl", func(ctx context.Context) error { _, err := s.acl.PolicyList(ctx, &pb.ACLListRequest{}); return err }),
		grpcDoor("ACL.TokenCreate", aclWrite, "acl", func(ctx context.Context) error {
			_, err := s.acl.TokenCreate(ctx, &pb.ACLTokenCreateRequest{Policies: []string{"unrelated"}})
			return err
		}),
		grpcDoor("ACL.TokenRead", aclRead, "acl", func(ctx context.Context) error {
			_, err := s.acl.TokenRead(ctx, &pb.ACLTokenRequest{AccessorId: noSuchAcc})
			return err
		}),
		grpcDoor("ACL.TokenList", aclRead, "acl", func(ctx context.Context) error { _, err := s.acl.TokenList(ctx, &pb.ACLListRequest{}); return err }),
		grpcDoor("ACL.TokenDelete", aclWrite, "acl", func(ctx context.Context) error {
			_, err := s.acl.TokenDelete(ctx, &pb.ACLTokenRequest{AccessorId: noSuchAcc})
			return err
		}),
		grpcDoor("ACL.PolicyDelete", aclWrite, "acl", func(ctx context.Context) error {
			_, err := s.acl.PolicyDelete(ctx, &pb.ACLPolicyRequest{Name: "tbl"})
			return err
		}),

		restDoor("GET", "/v1/members", "operator (any) needs read access", "operator", base),
		restDoor("GET", "/v1/raft", opsRead, "operator", base),
		restDoor("GET", "/v1/sd/prometheus", "operator (any) needs read access", "operator", base),
		restDoor("GET", "/metrics", opsRead, "operator", base),
		restDoor("GET", "/v1/kv", "kv (any) needs read access", "kv", base),
		restDoor("GET", "/v1/kv/tbl/x", kvX+"read access", "kv", base),
		restDoor("PUT", "/v1/kv/tbl/x", kvX+"write access", "kv", base),
		restDoor("DELETE", "/v1/kv/tbl/x", kvX+"write access", "kv", base),
		restDoor("DELETE", "/v1/kv?prefix=tbl/x", kvX+"write access", "kv", base),
		restDoor("GET", "/v1/locks", "lock (any) needs read access", "lock", base),
		restDoor("GET", "/v1/locks/tbl/x", lockX+"read access", "lock", base),
		restDoor("GET", "/v1/groups", "group (any) needs read access", "group", base),
		restDoor("GET", "/v1/groups/tbl", groupX+"read access", "group", base),
		restDoor("GET", "/v1/names", "name (any) needs read access", "name", base),
		restDoor("GET", "/v1/names/tbl/x", nameX+"read access", "name", base),
	}

	// refused checks a refusal's code and that its message names what was
	// missing and no token.
	refused := func(t *testing.T, who string, code codes.Code, msg string, want codes.Code, needs string) {
		t.Helper()
		if code != want || !strings.Contains(msg, needs) {
			t.Errorf("%s: %v %q, want %v naming %q", who, code, msg, want, needs)
		}
		for _, k := range known {
			if strings.Contains(msg, k) {
				t.Errorf("%s: the refusal %q mentions a token (%s)", who, msg, k)
			}
		}
	}
	allowed := func(t *testing.T, who string, code codes.Code, msg string) {
		t.Helper()
		if isACLCode(code) {
			t.Errorf("%s: refused with %v %q", who, code, msg)
		}
	}
	for _, d := range doors {
		t.Run(d.call, func(t *testing.T) {
			code, msg := d.do(t, "")
			refused(t, "no token", code, msg, codes.Unauthenticated, "")

			code, msg = d.do(t, unrelated)
			if d.needs == "" {
				allowed(t, "any valid token", code, msg)
			} else {
				refused(t, "a token without the rule", code, msg, codes.PermissionDenied, d.needs)
			}

			code, msg = d.do(t, readOnly)
			if d.write() {
				refused(t, "a read-only token", code, msg, codes.PermissionDenied, d.needs)
			} else {
				allowed(t, "a read-only token", code, msg)
			}

			if d.noRight != "" {
				t.Logf("the right token is not tried: %s", d.noRight)
				return
			}
			right := unrelated
			if d.res != "" {
				right = writers[d.res]
			}
			code, msg = d.do(t, right)
			allowed(t, "the right token", code, msg)
		})
	}

	// Bootstrap needs no token at all: everybody gets the same answer
	// (it was done already), never an ACL refusal.
	for _, secret := range []string{"", unrelated, readOnly} {
		_, err := s.acl.Bootstrap(as(t, secret), &pb.ACLBootstrapRequest{})
		if code, msg := codeAndMessage(err); code != codes.FailedPrecondition {
			t.Errorf("ACL.Bootstrap: %v %q, want FailedPrecondition for every caller", code, msg)
		}
	}
}

// testListings checks that a token limited to app/ lists only app/.
func testListings(t *testing.T, s *aclServer, mgmt string) {
	for _, k := range []string{"app/1", "app/2", "other/1", "apple"} {
		if _, err := s.kv.Put(as(t, mgmt), &pb.PutRequest{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	_, pid := openSession(t, s, mgmt)
	for _, n := range []string{"app/l", "other/l"} {
		if _, err := s.lock.Acquire(as(t, mgmt), &pb.LockAcquireRequest{Pid: pid, Name: n}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.names.Register(as(t, mgmt), &pb.NameRegisterRequest{Pid: pid, Name: n, Scope: pb.NameScope_NAME_SCOPE_CONSISTENT}); err != nil {
			t.Fatal(err)
		}
	}
	app, _ := grant(t, s, mgmt, "app-reader", 0, "kv app/ read", "lock app/ read", "name app/ read")

	kvs, err := s.kv.List(as(t, app), &pb.ListRequest{})
	var keys []string
	for _, e := range kvs.GetEntries() {
		keys = append(keys, e.GetKey())
	}
	if err != nil || !slices.Equal(keys, []string{"app/1", "app/2"}) {
		t.Errorf("KV.List as app/ reader: %v, %v; want app/1 app/2", keys, err)
	}
	st, code, msg := restCall(t, "GET", s.base+"/v1/kv", bearer(app))
	if st != http.StatusOK {
		t.Errorf("GET /v1/kv as app/ reader: %d %v %q", st, code, msg)
	}
	ls, err := s.lock.List(as(t, app), &pb.LockListRequest{})
	var locks []string
	for _, l := range ls.GetLocks() {
		locks = append(locks, l.GetName())
	}
	if err != nil || !slices.Equal(locks, []string{"app/l"}) {
		t.Errorf("Lock.List as app/ reader: %v, %v; want app/l", locks, err)
	}
	ns, err := s.names.List(as(t, app), &pb.NameListRequest{})
	var names []string
	for _, b := range ns.GetBindings() {
		names = append(names, b.GetName())
	}
	if err != nil || !slices.Equal(names, []string{"app/l"}) {
		t.Errorf("Names.List as app/ reader: %v, %v; want app/l", names, err)
	}
	// The management token sees them all: the filter is the token's.
	all, err := s.kv.List(as(t, mgmt), &pb.ListRequest{})
	if err != nil || len(all.GetEntries()) < 4 {
		t.Errorf("KV.List as management: %v, %v", all, err)
	}
}

// testBadACLInput checks that bad policies and tokens are refused naming
// the field, and change nothing.
func testBadACLInput(t *testing.T, s *aclServer, mgmt string) {
	policiesBefore, err := s.acl.PolicyList(as(t, mgmt), &pb.ACLListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tokensBefore, err := s.acl.TokenList(as(t, mgmt), &pb.ACLListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		err   error
		field string
	}{
		{"unknown resource", create(t, s, mgmt, "p1", "bucket a/ read"), "rules[0].resource"},
		{"unknown access", create(t, s, mgmt, "p1", "kv a/ admin"), "rules[0].access"},
		{"empty prefix", create(t, s, mgmt, "p1", "kv a/ read", "kv  read"), "rules[1].prefix"},
		{"no rules", create(t, s, mgmt, "p1"), "rules"},
		{"no name", create(t, s, mgmt, "", "kv a/ read"), "name"},
		{"duplicate name", create(t, s, mgmt, "unrelated", "kv * write"), "name"},
		{"built-in name", create(t, s, mgmt, "global-management", "kv * read"), "name"},
		{"no such policy", func() error {
			_, err := s.acl.TokenCreate(as(t, mgmt), &pb.ACLTokenCreateRequest{Policies: []string{"nope"}})
			return err
		}(), "policies[0]"},
		{"second policy missing", func() error {
			_, err := s.acl.TokenCreate(as(t, mgmt), &pb.ACLTokenCreateRequest{Policies: []string{"unrelated", "nope"}})
			return err
		}(), "policies[1]"},
		{"negative ttl", func() error {
			_, err := s.acl.TokenCreate(as(t, mgmt), &pb.ACLTokenCreateRequest{Policies: []string{"unrelated"}, Ttl: durationpb.New(-time.Second)})
			return err
		}(), "ttl"},
	}
	for _, b := range bad {
		code, msg := codeAndMessage(b.err)
		if code != codes.InvalidArgument || !strings.HasPrefix(msg, b.field+":") && !strings.Contains(msg, " "+b.field+":") {
			t.Errorf("%s: %v %q, want InvalidArgument naming %s", b.name, code, msg, b.field)
		}
	}
	policiesAfter, err := s.acl.PolicyList(as(t, mgmt), &pb.ACLListRequest{})
	if err != nil || !proto.Equal(policiesBefore, policiesAfter) {
		t.Errorf("policies changed by refused input:\nbefore %v\nafter  %v (%v)", policiesBefore, policiesAfter, err)
	}
	tokensAfter, err := s.acl.TokenList(as(t, mgmt), &pb.ACLListRequest{})
	if err != nil || !proto.Equal(tokensBefore, tokensAfter) {
		t.Errorf("tokens changed by refused input:\nbefore %v\nafter  %v (%v)", tokensBefore, tokensAfter, err)
	}
}

func create(t *testing.T, s *aclServer, mgmt, name string, lines ...string) error {
	p := &pb.ACLPolicy{Name: name}
	for _, l := range lines {
		// Split on single spaces: "kv  read" is an empty prefix.
		f := strings.Split(l, " ")
		p.Rules = append(p.Rules, &pb.ACLRule{Resource: f[0], Prefix: f[1], Access: f[2]})
	}
	_, err := s.acl.PolicyCreate(as(t, mgmt), p)
	return err
}

// testTokenDeleted checks that deleting a session's token ends the
// session, and that the lock it held goes to a waiter.
func testTokenDeleted(t *testing.T, s *aclServer, mgmt string) {
	ta, taAcc := grant(t, s, mgmt, "jobs-a", 0, "lock jobs/ write")
	tb, _ := grant(t, s, mgmt, "jobs-b", 0, "lock jobs/ write")
	stA, pidA := openSession(t, s, ta)
	_, pidB := openSession(t, s, tb)
	held, err := s.lock.Acquire(as(t, ta), &pb.LockAcquireRequest{Pid: pidA, Name: "jobs/x"})
	if err != nil {
		t.Fatalf("A acquires jobs/x: %v", err)
	}
	type result struct {
		token uint64
		err   error
	}
	waited := make(chan result, 1)
	go func() {
		r, err := s.lock.Acquire(as(t, tb), &pb.LockAcquireRequest{Pid: pidB, Name: "jobs/x", Wait: durationpb.New(20 * time.Second)})
		waited <- result{r.GetToken(), err}
	}()
	testcluster.WaitFor(t, 10*time.Second, "B to wait for jobs/x", func() bool {
		info, err := s.lock.Inspect(as(t, mgmt), &pb.LockInspectRequest{Name: "jobs/x"})
		return err == nil && len(info.GetLock().GetWaiters()) == 1 && info.GetLock().GetWaiters()[0].GetPid() == pidB
	})

	if _, err := s.acl.TokenDelete(as(t, mgmt), &pb.ACLTokenRequest{AccessorId: taAcc}); err != nil {
		t.Fatalf("delete A's token: %v", err)
	}
	evs, err := streamEnd(stA)
	if code, msg := codeAndMessage(err); code != codes.PermissionDenied || !strings.Contains(msg, pidA) {
		t.Fatalf("A's stream ended with %v %q, want PermissionDenied naming %s", code, msg, pidA)
	}
	lost := slices.ContainsFunc(evs, func(ev *pb.SessionEvent) bool {
		return ev.GetKind() == pb.SessionEvent_LOCK_LOST && ev.GetLock() == "jobs/x" && ev.GetToken() == held.GetToken()
	})
	if !lost {
		t.Errorf("A's stream ended without lock_lost for jobs/x; events %v", evs)
	}
	select {
	case r := <-waited:
		if r.err != nil || r.token <= held.GetToken() {
			t.Fatalf("B's acquire: token %d, %v; want a token above A's %d", r.token, r.err, held.GetToken())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("B did not get jobs/x after A's token was deleted")
	}
}

// TestACLPolicyChangeOnEveryNode updates a policy through one node and
// watches every node's API apply the new rules to a token that carries it.
// The tokens are made through a follower, and used there at once: the
// follower must not hand out a token it cannot resolve yet.
func TestACLPolicyChangeOnEveryNode(t *testing.T) {
	servers := newACLCluster(t, 3, true)
	var f *aclServer
	for _, s := range servers {
		if s.node.RaftStatus().State == "follower" {
			f = s
			break
		}
	}
	if f == nil {
		t.Fatal("no follower")
	}
	mgmt := bootstrap(t, f).GetSecretId()
	for _, k := range []string{"a/k", "b/k"} {
		if _, err := f.kv.Put(as(t, mgmt), &pb.PutRequest{Key: k, Value: []byte("v")}); err != nil {
			t.Fatalf("put %s with the management token just made on %s: %v", k, f.node.Name, err)
		}
	}
	secret, _ := grant(t, f, mgmt, "p", 0, "kv a/ read")
	if _, err := f.kv.Get(as(t, secret), &pb.GetRequest{Key: "a/k"}); err != nil {
		t.Fatalf("get a/k with the token just made on %s: %v", f.node.Name, err)
	}
	code := func(s *aclServer, key string) codes.Code {
		_, err := s.kv.Get(as(t, secret), &pb.GetRequest{Key: key})
		c, _ := codeAndMessage(err)
		return c
	}
	for _, s := range servers {
		testcluster.WaitFor(t, 15*time.Second, s.node.Name+" to let the token read a/k and not b/k", func() bool {
			return code(s, "a/k") == codes.OK && code(s, "b/k") == codes.PermissionDenied
		})
	}
	if _, err := servers[0].acl.PolicyUpdate(as(t, mgmt), &pb.ACLPolicy{Name: "p", Rules: rules("kv b/ read")}); err != nil {
		t.Fatalf("update p through %s: %v", servers[0].node.Name, err)
	}
	for _, s := range servers {
		testcluster.WaitFor(t, 15*time.Second, s.node.Name+" to let the token read b/k and not a/k", func() bool {
			return code(s, "b/k") == codes.OK && code(s, "a/k") == codes.PermissionDenied
		})
	}

	// A token deleted through one node ends the session it opened on
	// another, which reports the lock it held lost.
	other := servers[1]
	jobs, jobsAcc := grant(t, other, mgmt, "jobs", 0, "lock jobs/ write")
	st, pid := openSession(t, other, jobs)
	held, err := other.lock.Acquire(as(t, jobs), &pb.LockAcquireRequest{Pid: pid, Name: "jobs/y"})
	if err != nil {
		t.Fatalf("acquire jobs/y on %s: %v", other.node.Name, err)
	}
	if _, err := servers[0].acl.TokenDelete(as(t, mgmt), &pb.ACLTokenRequest{AccessorId: jobsAcc}); err != nil {
		t.Fatalf("delete the token through %s: %v", servers[0].node.Name, err)
	}
	evs, err := streamEnd(st)
	if c, msg := codeAndMessage(err); c != codes.PermissionDenied || !strings.Contains(msg, pid) {
		t.Fatalf("the session on %s ended with %v %q, want PermissionDenied naming %s", other.node.Name, c, msg, pid)
	}
	if !slices.ContainsFunc(evs, func(ev *pb.SessionEvent) bool {
		return ev.GetKind() == pb.SessionEvent_LOCK_LOST && ev.GetLock() == "jobs/y" && ev.GetToken() == held.GetToken()
	}) {
		t.Errorf("the session on %s ended without lock_lost for jobs/y; events %v", other.node.Name, evs)
	}
}

// TestACLServiceWhenDisabled checks that a node whose ACLs are off
// refuses every ACL call with FailedPrecondition, and enforces nothing.
func TestACLServiceWhenDisabled(t *testing.T) {
	s := newACLCluster(t, 1, false)[0]
	calls := map[string]func(ctx context.Context) error{
		"Bootstrap": func(ctx context.Context) error { _, err := s.acl.Bootstrap(ctx, &pb.ACLBootstrapRequest{}); return err },
		"PolicyCreate": func(ctx context.Context) error {
			_, err := s.acl.PolicyCreate(ctx, &pb.ACLPolicy{Name: "p", Rules: rules("kv * read")})
			return err
		},
		"PolicyUpdate": func(ctx context.Context) error {
			_, err := s.acl.PolicyUpdate(ctx, &pb.ACLPolicy{Name: "p", Rules: rules("kv * read")})
			return err
		},
		"PolicyRead": func(ctx context.Context) error {
			_, err := s.acl.PolicyRead(ctx, &pb.ACLPolicyRequest{Name: "p"})
			return err
		},
		"PolicyList": func(ctx context.Context) error { _, err := s.acl.PolicyList(ctx, &pb.ACLListRequest{}); return err },
		"PolicyDelete": func(ctx context.Context) error {
			_, err := s.acl.PolicyDelete(ctx, &pb.ACLPolicyRequest{Name: "p"})
			return err
		},
		"TokenCreate": func(ctx context.Context) error {
			_, err := s.acl.TokenCreate(ctx, &pb.ACLTokenCreateRequest{Policies: []string{"global-management"}})
			return err
		},
		"TokenRead": func(ctx context.Context) error {
			_, err := s.acl.TokenRead(ctx, &pb.ACLTokenRequest{AccessorId: "6f1c2a52-8f0e-4b7e-9a43-2d4a1b7c9e10"})
			return err
		},
		"TokenList": func(ctx context.Context) error { _, err := s.acl.TokenList(ctx, &pb.ACLListRequest{}); return err },
		"TokenDelete": func(ctx context.Context) error {
			_, err := s.acl.TokenDelete(ctx, &pb.ACLTokenRequest{AccessorId: "6f1c2a52-8f0e-4b7e-9a43-2d4a1b7c9e10"})
			return err
		},
		"Whoami": func(ctx context.Context) error { _, err := s.acl.Whoami(ctx, &pb.ACLWhoamiRequest{}); return err },
	}
	if len(calls) != len(pb.ACL_ServiceDesc.Methods) {
		t.Fatalf("%d ACL calls tried, the service has %d", len(calls), len(pb.ACL_ServiceDesc.Methods))
	}
	for name, call := range calls {
		if code, msg := codeAndMessage(call(as(t, ""))); code != codes.FailedPrecondition || !strings.Contains(strings.ToLower(msg), "disabled") {
			t.Errorf("ACL.%s with ACLs off: %v %q, want FailedPrecondition saying they are disabled", name, code, msg)
		}
	}
	// Nothing is enforced: no token is needed, and a made-up one is
	// not even read.
	if _, err := s.kv.Put(as(t, ""), &pb.PutRequest{Key: "k", Value: []byte("v")}); err != nil {
		t.Errorf("KV.Put without a token, ACLs off: %v", err)
	}
	if _, err := s.kv.Get(as(t, "6f1c2a52-8f0e-4b7e-9a43-2d4a1b7c9e10"), &pb.GetRequest{Key: "k"}); err != nil {
		t.Errorf("KV.Get with an unknown token, ACLs off: %v", err)
	}
}
