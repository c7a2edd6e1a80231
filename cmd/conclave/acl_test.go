package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// fakeACL is a small in-memory conclave.v1.ACL and KV server for the CLI's
// unit tests: it records the authorization metadata of every call and
// keeps policies and tokens in maps. The real service is exercised by
// acl_e2e_test.go.
type fakeACL struct {
	pb.UnimplementedACLServer
	pb.UnimplementedKVServer

	mu           sync.Mutex
	calls        int
	auth         []string // authorization of the last call
	bootstrapped uint64
	policies     map[string]*pb.ACLPolicy
	tokens       map[string]*pb.ACLToken
	index        uint64
	lastTTL      time.Duration
}

func (f *fakeACL) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.calls++
	f.auth = md.Get("authorization")
	f.mu.Unlock()
	return h(ctx, req)
}

// last returns the number of calls so far and the last one's authorization.
func (f *fakeACL) last() (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.auth
}

func (f *fakeACL) next() uint64 { f.index++; return f.index }

func (f *fakeACL) Bootstrap(_ context.Context, req *pb.ACLBootstrapRequest) (*pb.ACLTokenCreated, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bootstrapped != 0 && req.GetResetIndex() != f.bootstrapped {
		return nil, status.Errorf(codes.FailedPrecondition, "acl already bootstrapped: ACLs were bootstrapped at index %d; a reset must name that index", f.bootstrapped)
	}
	f.bootstrapped = f.next()
	t := &pb.ACLToken{AccessorId: fmt.Sprintf("acc-%d", f.index), Policies: []string{"global-management"}, CreateIndex: f.index}
	f.tokens[t.AccessorId] = t
	return &pb.ACLTokenCreated{Token: t, SecretId: fmt.Sprintf("secret-%d", f.index)}, nil
}

func (f *fakeACL) setPolicy(p *pb.ACLPolicy, create bool) (*pb.ACLPolicy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.policies[p.GetName()]
	switch {
	case create && ok:
		return nil, status.Errorf(codes.InvalidArgument, "name: policy %q already exists", p.GetName())
	case !create && !ok:
		return nil, status.Errorf(codes.NotFound, "policy %q", p.GetName())
	}
	for i, r := range p.GetRules() {
		if r.GetResource() != "kv" && r.GetResource() != "lock" && r.GetResource() != "name" {
			return nil, status.Errorf(codes.InvalidArgument, "rules[%d].resource: unknown resource %q", i, r.GetResource())
		}
	}
	stored := &pb.ACLPolicy{Name: p.GetName(), Description: p.GetDescription(), Rules: p.GetRules(), ModifyIndex: f.next()}
	stored.CreateIndex = stored.ModifyIndex
	if ok {
		stored.CreateIndex = old.GetCreateIndex()
	}
	f.policies[p.GetName()] = stored
	return stored, nil
}

func (f *fakeACL) PolicyCreate(_ context.Context, p *pb.ACLPolicy) (*pb.ACLPolicy, error) {
	return f.setPolicy(p, true)
}

func (f *fakeACL) PolicyUpdate(_ context.Context, p *pb.ACLPolicy) (*pb.ACLPolicy, error) {
	return f.setPolicy(p, false)
}

func (f *fakeACL) PolicyRead(_ context.Context, req *pb.ACLPolicyRequest) (*pb.ACLPolicy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.policies[req.GetName()]; ok {
		return p, nil
	}
	return nil, status.Errorf(codes.NotFound, "policy %q", req.GetName())
}

func (f *fakeACL) PolicyList(context.Context, *pb.ACLListRequest) (*pb.ACLPolicies, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &pb.ACLPolicies{}
	for _, p := range f.policies {
		out.Policies = append(out.Policies, p)
	}
	return out, nil
}

func (f *fakeACL) PolicyDelete(_ context.Context, req *pb.ACLPolicyRequest) (*pb.ACLDeleted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.policies[req.GetName()]; !ok {
		return nil, status.Errorf(codes.NotFound, "policy %q", req.GetName())
	}
	delete(f.policies, req.GetName())
	return &pb.ACLDeleted{}, nil
}

func (f *fakeACL) TokenCreate(_ context.Context, req *pb.ACLTokenCreateRequest) (*pb.ACLTokenCreated, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range req.GetPolicies() {
		if _, ok := f.policies[p]; !ok {
			return nil, status.Errorf(codes.InvalidArgument, "policies[%d]: policy %q does not exist", i, p)
		}
	}
	t := &pb.ACLToken{AccessorId: fmt.Sprintf("acc-%d", f.next()), Description: req.GetDescription(), Policies: req.GetPolicies(), CreateIndex: f.index}
	f.lastTTL = req.GetTtl().AsDuration()
	if req.GetTtl() != nil {
		t.ExpiresAt = timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(f.lastTTL))
	}
	f.tokens[t.AccessorId] = t
	return &pb.ACLTokenCreated{Token: t, SecretId: fmt.Sprintf("secret-%d", f.index)}, nil
}

func (f *fakeACL) TokenRead(_ context.Context, req *pb.ACLTokenRequest) (*pb.ACLToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tokens[req.GetAccessorId()]; ok {
		return t, nil
	}
	return nil, status.Errorf(codes.NotFound, "token %q", req.GetAccessorId())
}

func (f *fakeACL) TokenList(context.Context, *pb.ACLListRequest) (*pb.ACLTokens, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &pb.ACLTokens{}
	for _, t := range f.tokens {
		out.Tokens = append(out.Tokens, t)
	}
	sort.Slice(out.Tokens, func(i, j int) bool { return out.Tokens[i].AccessorId > out.Tokens[j].AccessorId })
	return out, nil
}

func (f *fakeACL) TokenDelete(_ context.Context, req *pb.ACLTokenRequest) (*pb.ACLDeleted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tokens[req.GetAccessorId()]; !ok {
		return nil, status.Errorf(codes.NotFound, "token %q", req.GetAccessorId())
	}
	delete(f.tokens, req.GetAccessorId())
	return &pb.ACLDeleted{}, nil
}

// Whoami describes the caller by echoing its authorization value as the
// description, so the tests can see which token the CLI chose.
func (f *fakeACL) Whoami(ctx context.Context, _ *pb.ACLWhoamiRequest) (*pb.ACLToken, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	a := md.Get("authorization")
	if len(a) == 0 {
		return nil, status.Error(codes.Unauthenticated, "unauthenticated: this call needs a token (no token given; ACLs are on)")
	}
	return &pb.ACLToken{AccessorId: "acc-me", Description: strings.Join(a, ",")}, nil
}

func (f *fakeACL) Get(_ context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	return &pb.GetResponse{Entry: &pb.KVEntry{Key: req.GetKey(), Value: []byte("v"), Version: 1, CreateIndex: 1}}, nil
}

// aclCLI runs the CLI against a fakeACL with the environment vars (plus
// CONCLAVE_ADDR).
type aclCLI struct {
	t    *testing.T
	fake *fakeACL
	addr string
	vars map[string]string
}

func newACLCLI(t *testing.T) *aclCLI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeACL{policies: map[string]*pb.ACLPolicy{}, tokens: map[string]*pb.ACLToken{}}
	srv := grpc.NewServer(grpc.UnaryInterceptor(f.intercept))
	pb.RegisterACLServer(srv, f)
	pb.RegisterKVServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return &aclCLI{t: t, fake: f, addr: ln.Addr().String(), vars: map[string]string{}}
}

func (c *aclCLI) run(args ...string) (code int, stdout, stderr string) {
	var out, errOut syncBuffer
	e := env{lookup: func(k string) (string, bool) {
		if k == "CONCLAVE_ADDR" {
			return c.addr, true
		}
		v, ok := c.vars[k]
		return v, ok
	}}
	code = run(context.Background(), args, e, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func (c *aclCLI) ok(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != 0 || errOut != "" {
		c.t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
	}
	return out
}

// fails runs args, wants exit 1 with one `conclave: ` line, and returns it.
func (c *aclCLI) fails(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "conclave: ") || strings.Count(errOut, "\n") != 1 {
		c.t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one `conclave: ...` line", args, code, out, errOut)
	}
	return strings.TrimSuffix(errOut, "\n")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTokenPrecedence: --token beats --token-file beats CONCLAVE_TOKEN
// beats CONCLAVE_TOKEN_FILE; a file is trimmed; the token goes out as
// "Bearer <secret>" with ACL and non-ACL calls alike.
func TestTokenPrecedence(t *testing.T) {
	c := newACLCLI(t)
	flagFile := writeFile(t, "flag-token", "  from-flag-file\n\n")
	envFile := writeFile(t, "env-token", "from-env-file\n")
	tests := map[string]struct {
		args []string
		vars map[string]string
		want string
	}{
		"env file":           {nil, map[string]string{"CONCLAVE_TOKEN_FILE": envFile}, "from-env-file"},
		"env beats env file": {nil, map[string]string{"CONCLAVE_TOKEN": "from-env", "CONCLAVE_TOKEN_FILE": envFile}, "from-env"},
		"flag file beats env": {[]string{"--token-file", flagFile},
			map[string]string{"CONCLAVE_TOKEN": "from-env", "CONCLAVE_TOKEN_FILE": envFile}, "from-flag-file"},
		"flag beats all": {[]string{"--token", "from-flag", "--token-file", flagFile},
			map[string]string{"CONCLAVE_TOKEN": "from-env", "CONCLAVE_TOKEN_FILE": envFile}, "from-flag"},
		"flag before the verb": {[]string{"--token=early"}, nil, "early"},
		// An unreadable CONCLAVE_TOKEN_FILE is never read when a flag wins.
		"flag beats a bad env file": {[]string{"--token", "from-flag"}, map[string]string{"CONCLAVE_TOKEN_FILE": "/nonexistent/token"}, "from-flag"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c.t, c.vars = t, tc.vars
			var args []string
			if name == "flag before the verb" {
				args = append([]string{"acl"}, append(tc.args, "whoami", "-o", "json")...)
			} else {
				args = append([]string{"acl", "whoami", "-o", "json"}, tc.args...)
			}
			var me tokenJSON
			if err := json.Unmarshal([]byte(c.ok(args...)), &me); err != nil {
				t.Fatal(err)
			}
			if me.Description != "Bearer "+tc.want {
				t.Fatalf("the agent saw authorization %q, want %q", me.Description, "Bearer "+tc.want)
			}
			// Every client verb presents it, not only acl.
			c.ok(append([]string{"kv", "get", "k"}, tc.args...)...)
			if _, auth := c.fake.last(); len(auth) != 1 || auth[0] != "Bearer "+tc.want {
				t.Fatalf("kv get sent authorization %q, want %q", auth, "Bearer "+tc.want)
			}
		})
	}

	// No token at all: nothing is sent, and the refusal says how to give one.
	c.t, c.vars = t, nil
	c.ok("kv", "get", "k")
	if _, auth := c.fake.last(); len(auth) != 0 {
		t.Fatalf("no token: kv get sent authorization %q", auth)
	}
	msg := c.fails("acl", "whoami")
	if !strings.HasPrefix(msg, "conclave: acl whoami: Unauthenticated: ") || !strings.Contains(msg, "give a token with --token or --token-file") {
		t.Fatalf("whoami without a token: %q", msg)
	}
	// With a token the agent refuses, no hint is guessed at.
	c.fake.mu.Lock()
	c.fake.policies["x"] = &pb.ACLPolicy{Name: "x"}
	c.fake.mu.Unlock()
	if msg := c.fails("acl", "policy", "read", "nope", "--token", "t"); strings.Contains(msg, "give a token") {
		t.Fatalf("a refusal with a token carries the no-token hint: %q", msg)
	}
}

// TestTokenSettingErrors: a token that cannot be used is a local error
// naming the flag or variable, the agent is not called, and the secret is
// never echoed.
func TestTokenSettingErrors(t *testing.T) {
	c := newACLCLI(t)
	dir := t.TempDir()
	empty := writeFile(t, "empty", "")
	blank := writeFile(t, "blank", " \n\t\n")
	spaced := writeFile(t, "spaced", "two words\n")
	huge := writeFile(t, "huge", strings.Repeat("x", maxTokenFile+1))
	tests := map[string]struct {
		args []string
		vars map[string]string
		want string
	}{
		"missing flag file":  {[]string{"--token-file", filepath.Join(dir, "nope")}, nil, "conclave: --token-file: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		"flag file is a dir": {[]string{"--token-file", dir}, nil, "conclave: --token-file: read " + dir + ": "},
		"empty flag file":    {[]string{"--token-file", empty}, nil, "conclave: --token-file: " + empty + " is empty; want the token's secret ID"},
		"blank flag file":    {[]string{"--token-file", blank}, nil, "conclave: --token-file: " + blank + " is empty"},
		"empty file path":    {[]string{"--token-file", ""}, nil, "conclave: invalid --token-file: empty path"},
		"huge flag file":     {[]string{"--token-file", huge}, nil, "conclave: --token-file: " + huge + " holds more than 4096 bytes"},
		"space in file":      {[]string{"--token-file", spaced}, nil, "conclave: --token-file " + spaced + ": the token holds a space, control or non-ASCII byte at offset 3"},
		"empty flag":         {[]string{"--token", ""}, nil, "conclave: invalid --token: empty"},
		"space in flag":      {[]string{"--token", "two words"}, nil, "conclave: --token: the token holds a space"},
		"missing env file":   {nil, map[string]string{"CONCLAVE_TOKEN_FILE": filepath.Join(dir, "gone")}, "conclave: CONCLAVE_TOKEN_FILE: open " + filepath.Join(dir, "gone") + ": no such file"},
		"empty env file":     {nil, map[string]string{"CONCLAVE_TOKEN_FILE": empty}, "conclave: CONCLAVE_TOKEN_FILE: " + empty + " is empty"},
		"bad env token":      {nil, map[string]string{"CONCLAVE_TOKEN": "tab\tinside"}, "conclave: CONCLAVE_TOKEN: the token holds a space, control or non-ASCII byte at offset 3"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c.t, c.vars = t, tc.vars
			before, _ := c.fake.last()
			for _, verb := range [][]string{{"acl", "whoami"}, {"kv", "get", "k"}} {
				msg := c.fails(append(verb, tc.args...)...)
				if !strings.HasPrefix(msg, tc.want) {
					t.Fatalf("%v: stderr %q, want it to start %q", verb, msg, tc.want)
				}
				if strings.Contains(msg, "two words") || strings.Contains(msg, "tab\tinside") {
					t.Fatalf("the error echoes the secret: %q", msg)
				}
			}
			if after, _ := c.fake.last(); after != before {
				t.Fatalf("the agent was called %d times despite the bad token setting", after-before)
			}
		})
	}
}

// TestACLCommandArgs: argument and flag mistakes are local usage errors
// naming what is wrong; nothing reaches the agent.
func TestACLCommandArgs(t *testing.T) {
	c := newACLCLI(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"create without name": {[]string{"acl", "policy", "create", "--rule", "kv * read"},
			`conclave: acl policy create: missing NAME (usage: conclave acl policy create NAME --rule "RESOURCE PREFIX ACCESS" [--rule ...])`},
		"create without rule": {[]string{"acl", "policy", "create", "jobs"}, `conclave: acl policy create "jobs": --rule is required (e.g. --rule "lock jobs/ write")`},
		"two-word rule": {[]string{"acl", "policy", "create", "jobs", "--rule", "kv * read", "--rule", "lock jobs/"},
			`conclave: acl policy create "jobs": invalid --rule "lock jobs/": want "RESOURCE PREFIX ACCESS", three words`},
		"four-word rule": {[]string{"acl", "policy", "update", "jobs", "--rule", "lock jobs/ write now"},
			`conclave: acl policy update "jobs": invalid --rule "lock jobs/ write now": want "RESOURCE PREFIX ACCESS"`},
		"empty rule":          {[]string{"acl", "policy", "create", "jobs", "--rule", ""}, `invalid --rule "": want`},
		"update without rule": {[]string{"acl", "policy", "update", "jobs", "--description", "d"}, `conclave: acl policy update "jobs": --rule is required`},
		"read extra":          {[]string{"acl", "policy", "read", "a", "b"}, `conclave: acl policy read: unexpected argument "b" (usage: conclave acl policy read NAME)`},
		"delete without name": {[]string{"acl", "policy", "delete"}, "conclave: acl policy delete: missing NAME"},
		"token without policy": {[]string{"acl", "token", "create", "--description", "x"},
			"conclave: acl token create: --policy is required"},
		"negative ttl": {[]string{"acl", "token", "create", "--policy", "jobs", "--ttl", "-1h"},
			"conclave: acl token create: invalid --ttl -1h0m0s: must be > 0, or 0 for a token that never expires"},
		"bad ttl":             {[]string{"acl", "token", "create", "--policy", "jobs", "--ttl", "soon"}, `invalid argument "soon" for "--ttl" flag`},
		"token positional":    {[]string{"acl", "token", "create", "jobs"}, `conclave: acl token create: unexpected argument "jobs"`},
		"read no accessor":    {[]string{"acl", "token", "read"}, "conclave: acl token read: missing ACCESSOR (usage: conclave acl token read ACCESSOR)"},
		"delete no accessor":  {[]string{"acl", "token", "delete"}, "conclave: acl token delete: missing ACCESSOR"},
		"whoami extra":        {[]string{"acl", "whoami", "me"}, `conclave: acl whoami: unexpected argument "me"`},
		"bootstrap extra":     {[]string{"acl", "bootstrap", "now"}, `conclave: acl bootstrap: unexpected argument "now"`},
		"bad reset index":     {[]string{"acl", "bootstrap", "--reset-index", "-3"}, `invalid argument "-3" for "--reset-index" flag`},
		"unknown acl verb":    {[]string{"acl", "tokens"}, `conclave: unknown command "tokens" for "conclave acl"; did you mean token?`},
		"unknown policy verb": {[]string{"acl", "policy", "show"}, `unknown command "show" for "conclave acl policy"`},
		"bad output":          {[]string{"acl", "token", "list", "-o", "yaml"}, `conclave: invalid --output "yaml"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c.t = t
			if msg := c.fails(tc.args...); !strings.HasPrefix(msg, tc.want) && !strings.Contains(msg, tc.want) {
				t.Fatalf("stderr %q, want %q", msg, tc.want)
			}
		})
	}
	if calls, _ := c.fake.last(); calls != 0 {
		t.Fatalf("usage errors reached the agent %d times", calls)
	}
}

// TestACLCommands walks the commands against the fake service: what they
// send and how they print it.
func TestACLCommands(t *testing.T) {
	c := newACLCLI(t)
	out := c.ok("acl", "bootstrap")
	if !strings.Contains(out, "AccessorID:") || !strings.Contains(out, "SecretID:      secret-1\n") ||
		!strings.Contains(out, "Policies:      global-management\n") || !strings.Contains(out, "Keep the SecretID safe") {
		t.Fatalf("bootstrap = %q", out)
	}
	msg := c.fails("acl", "bootstrap")
	if msg != "conclave: acl bootstrap: FailedPrecondition: acl already bootstrapped: ACLs were bootstrapped at index 1; a reset must name that index"+
		` (lost the management token? see "Recovering a lost management token" in docs/acl.md)` {
		t.Fatalf("second bootstrap: %q", msg)
	}
	var boot tokenJSON
	if err := json.Unmarshal([]byte(c.ok("acl", "bootstrap", "--reset-index", "1", "-o", "json")), &boot); err != nil {
		t.Fatal(err)
	}
	if boot.SecretID != "secret-2" || boot.AccessorID != "acc-2" || boot.ExpiresAt != nil {
		t.Fatalf("bootstrap --reset-index json = %+v", boot)
	}
	c.vars = map[string]string{"CONCLAVE_TOKEN": boot.SecretID}

	out = c.ok("acl", "policy", "create", "jobs", "--rule", "lock jobs/ write", "--rule", "  name\tsvc/billing   write ", "--description", "job runner")
	if !strings.Contains(out, "Name:          jobs\n") || !strings.Contains(out, "Description:   job runner\n") ||
		!strings.Contains(out, "lock      jobs/        write\n") || !strings.Contains(out, "name      svc/billing  write\n") {
		t.Fatalf("policy create = %q", out)
	}
	// The agent validates the words and names the field.
	if msg := c.fails("acl", "policy", "create", "bad", "--rule", "locks x write"); msg !=
		`conclave: acl policy create "bad": InvalidArgument: rules[0].resource: unknown resource "locks"` {
		t.Fatalf("bad resource: %q", msg)
	}
	// Update without --description keeps the one in force.
	var pol policyJSON
	if err := json.Unmarshal([]byte(c.ok("acl", "policy", "update", "jobs", "--rule", "lock jobs/ write", "-o", "json")), &pol); err != nil {
		t.Fatal(err)
	}
	if pol.Description != "job runner" || len(pol.Rules) != 1 || pol.Rules[0] != (ruleJSON{"lock", "jobs/", "write"}) || pol.ModifyIndex <= pol.CreateIndex {
		t.Fatalf("policy update = %+v", pol)
	}
	c.ok("acl", "policy", "update", "jobs", "--rule", "lock jobs/ write", "--description", "")
	if err := json.Unmarshal([]byte(c.ok("acl", "policy", "read", "jobs", "-o", "json")), &pol); err != nil || pol.Description != "" {
		t.Fatalf("policy update --description \"\" left %+v, %v", pol, err)
	}
	if msg := c.fails("acl", "policy", "update", "ghost", "--rule", "kv * read"); msg != `conclave: acl policy update "ghost": NotFound: policy "ghost"` {
		t.Fatalf("update missing: %q", msg)
	}
	c.ok("acl", "policy", "create", "dash", "--rule", "kv * read")
	out = c.ok("acl", "policy", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "dash  ") ||
		!strings.Contains(lines[1], "kv * read") || !strings.HasPrefix(lines[2], "jobs  ") {
		t.Fatalf("policy list = %q", out)
	}

	var tok tokenJSON
	if err := json.Unmarshal([]byte(c.ok("acl", "token", "create", "--policy", "jobs", "--policy", "dash", "--ttl", "1h", "--description", "nightly", "-o", "json")), &tok); err != nil {
		t.Fatal(err)
	}
	if tok.SecretID == "" || strings.Join(tok.Policies, ",") != "jobs,dash" || tok.ExpiresAt == nil || *tok.ExpiresAt != "2030-01-01T01:00:00Z" {
		t.Fatalf("token create = %+v", tok)
	}
	if c.fake.lastTTL != time.Hour {
		t.Fatalf("token create sent ttl %s", c.fake.lastTTL)
	}
	out = c.ok("acl", "token", "create", "--policy", "dash")
	if !strings.Contains(out, "SecretID:") || !strings.Contains(out, "Expires:       never\n") {
		t.Fatalf("token create table = %q", out)
	}
	if msg := c.fails("acl", "token", "create", "--policy", "nope"); msg != `conclave: acl token create: InvalidArgument: policies[0]: policy "nope" does not exist` {
		t.Fatalf("token with an unknown policy: %q", msg)
	}
	out = c.ok("acl", "token", "list")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ACCESSOR_ID") || !strings.HasPrefix(lines[1], "acc-1 ") ||
		!strings.Contains(out, "acc-7        jobs,dash          2030-01-01T01:00:00Z  nightly\n") || strings.Contains(out, "secret-") {
		t.Fatalf("token list (by creation, no secrets) = %q", out)
	}
	out = c.ok("acl", "token", "read", tok.AccessorID)
	if !strings.Contains(out, "AccessorID:    "+tok.AccessorID+"\n") || !strings.Contains(out, "Policies:      jobs, dash\n") || strings.Contains(out, "SecretID") {
		t.Fatalf("token read = %q", out)
	}
	if out := c.ok("acl", "token", "delete", tok.AccessorID); out != fmt.Sprintf("deleted token %q\n", tok.AccessorID) {
		t.Fatalf("token delete = %q", out)
	}
	if msg := c.fails("acl", "token", "read", tok.AccessorID); !strings.Contains(msg, "NotFound") {
		t.Fatalf("read of a deleted token: %q", msg)
	}
	if out := c.ok("acl", "policy", "delete", "dash", "-o", "json"); !strings.Contains(out, `"deleted": "policy"`) {
		t.Fatalf("policy delete json = %q", out)
	}
	out = c.ok("acl", "whoami")
	if !strings.Contains(out, "AccessorID:    acc-me\n") || !strings.Contains(out, "Bearer secret-2") {
		t.Fatalf("whoami = %q", out)
	}
}
