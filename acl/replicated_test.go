package acl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// fakeProposer applies every command to a real replicated table at the
// next index, as a one-node Raft would, screening it first as the leader
// does; no network, no Raft.
type fakeProposer struct {
	t     *Replicated
	index uint64
}

func (p *fakeProposer) Apply(_ context.Context, cmd []byte) ([]byte, error) {
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil || table != TableID {
		return nil, errors.New("not an acl command")
	}
	if err := p.t.Screen(op, wire.NewDecoder(cmd[3:])); err != nil {
		return wire.Refusal(err), nil
	}
	p.index++
	res, err := p.t.Apply(p.index, op, d)
	if err != nil {
		return wire.Refusal(err), nil
	}
	return res, nil
}

func (p *fakeProposer) Query(_ context.Context, _ wire.ReadMode, q []byte) ([]byte, error) {
	_, op, d, err := wire.ParseCommand(q)
	if err != nil {
		return nil, err
	}
	return p.t.Query(op, d)
}

// clock is the injected clock tokens expire by.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

type fixture struct {
	s     *Service
	p     *fakeProposer
	clock *clock
}

func newFixture(cfg Config) *fixture {
	c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	p := &fakeProposer{t: NewReplicated()}
	return &fixture{s: NewService(cfg, p, p.t, c.Now), p: p, clock: c}
}

var enabled = Config{Enabled: true}

func mustPolicy(t *testing.T, s *Service, name string, rs ...string) Policy {
	t.Helper()
	p, err := s.SetPolicy(context.Background(), Policy{Name: name, Rules: rules(t, rs...)}, true)
	if err != nil {
		t.Fatalf("create policy %s: %v", name, err)
	}
	return p
}

func mustToken(t *testing.T, s *Service, ttl time.Duration, policies ...string) NewToken {
	t.Helper()
	nt, err := s.CreateToken(context.Background(), "t", policies, ttl)
	if err != nil {
		t.Fatalf("create token %v: %v", policies, err)
	}
	return nt
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func wantInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), field+": ") {
		t.Fatalf("%s: %v, want InvalidArgument naming %s", what, err, field)
	}
}

func TestBootstrapOnceAndReset(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	first, err := f.s.Bootstrap(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if first.CreateIndex != 1 || len(first.Policies) != 1 || first.Policies[0] != Management || !isUUID(first.SecretID) || first.SecretID == first.AccessorID {
		t.Fatalf("bootstrap token %+v", first)
	}
	a, err := f.s.Resolve(first.SecretID)
	if err != nil || a.AccessorID != first.AccessorID || !a.Authenticated() {
		t.Fatalf("resolve the bootstrap secret: %+v, %v", a, err)
	}
	for _, r := range Resources() {
		if !a.Allowed(r, "", Write) || !a.Allowed(r, "any/name", Write) {
			t.Fatalf("the management token may not write %s", r)
		}
	}

	_, err = f.s.Bootstrap(ctx, 0)
	if !errors.Is(err, ErrBootstrapped) || !strings.Contains(err.Error(), "bootstrapped at index 1") || strings.Contains(err.Error(), first.AccessorID) {
		t.Fatalf("second bootstrap: %v, want ErrBootstrapped naming index 1", err)
	}
	// A reset needs the operator's file on the node: without one, or
	// with another index in it, nothing is proposed.
	before := f.p.index
	if _, err := f.s.Bootstrap(ctx, 1); !errors.Is(err, ErrBootstrapped) || !strings.Contains(err.Error(), "allows no reset") {
		t.Fatalf("a reset on a node without a reset file: %v", err)
	}
	f.s.cfg.ResetFile = filepath.Join(t.TempDir(), "acl-bootstrap-reset")
	if _, err := f.s.Bootstrap(ctx, 1); !errors.Is(err, ErrBootstrapped) || !strings.Contains(err.Error(), "write 1 into") {
		t.Fatalf("a reset before the file is written: %v", err)
	}
	writeReset(t, f.s.cfg.ResetFile, 2)
	if _, err := f.s.Bootstrap(ctx, 1); !errors.Is(err, ErrBootstrapped) || !strings.Contains(err.Error(), "not the index 1") {
		t.Fatalf("a reset with another index in the file: %v", err)
	}
	if f.p.index != before {
		t.Fatalf("refused resets proposed %d entries", f.p.index-before)
	}
	writeReset(t, f.s.cfg.ResetFile, 7)
	if _, err := f.s.Bootstrap(ctx, 7); !errors.Is(err, ErrBootstrapped) || !strings.Contains(err.Error(), "bootstrapped at index 1") {
		t.Fatalf("a reset naming the wrong index: %v", err)
	}
	if _, err := f.s.Resolve(first.SecretID); err != nil {
		t.Fatalf("a refused reset revoked the management token: %v", err)
	}

	// Recovery: a reset naming the bootstrap in force replaces its token,
	// and consumes the file.
	writeReset(t, f.s.cfg.ResetFile, 1)
	second, err := f.s.Bootstrap(ctx, 1)
	if err != nil {
		t.Fatalf("reset at index 1: %v", err)
	}
	if _, err := os.Stat(f.s.cfg.ResetFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the reset file outlives the reset: %v", err)
	}
	if _, err := f.s.Resolve(first.SecretID); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("the replaced management token still resolves: %v", err)
	}
	if f.s.Valid(first.AccessorID) {
		t.Fatal("the replaced management token is still valid")
	}
	if a, err := f.s.Resolve(second.SecretID); err != nil || a.AccessorID != second.AccessorID || !a.Allowed(ResACL, "", Write) {
		t.Fatalf("resolve the new management token: %+v, %v", a, err)
	}
	ts, err := f.s.Tokens(ctx, wire.ReadDefault, "")
	if err != nil || len(ts) != 1 || ts[0].AccessorID != second.AccessorID {
		t.Fatalf("tokens after the reset: %+v, %v", ts, err)
	}
	writeReset(t, f.s.cfg.ResetFile, 1)
	if _, err := f.s.Bootstrap(ctx, 1); !errors.Is(err, ErrBootstrapped) || !strings.Contains(err.Error(), fmt.Sprintf("index %d", second.CreateIndex)) {
		t.Fatalf("a second reset naming the old index: %v", err)
	}
	if _, err := f.s.Resolve(second.SecretID); err != nil {
		t.Fatalf("a refused reset revoked the management token: %v", err)
	}
}

func writeReset(t *testing.T, path string, index uint64) {
	t.Helper()
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d\n", index)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A reset whose old management token was already deleted still works.
func TestBootstrapResetAfterTheTokenIsGone(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	first, err := f.s.Bootstrap(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteToken(ctx, first.AccessorID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Bootstrap(ctx, 0); !errors.Is(err, ErrBootstrapped) {
		t.Fatalf("bootstrap after the token was deleted: %v", err)
	}
	f.s.cfg.ResetFile = filepath.Join(t.TempDir(), "reset")
	writeReset(t, f.s.cfg.ResetFile, first.CreateIndex)
	nt, err := f.s.Bootstrap(ctx, first.CreateIndex)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Resolve(nt.SecretID); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	p := mustPolicy(t, f.s, "app", "kv app/ read")
	if p.CreateIndex != 1 || p.ModifyIndex != 1 {
		t.Fatalf("created policy %+v", p)
	}
	_, err := f.s.SetPolicy(ctx, Policy{Name: "app", Rules: rules(t, "kv * write")}, true)
	wantInvalid(t, "duplicate create", err, "name")
	if !strings.Contains(err.Error(), `"app" already exists`) {
		t.Fatalf("duplicate create: %v", err)
	}

	nt := mustToken(t, f.s, 0, "app")
	a, err := f.s.Resolve(nt.SecretID)
	if err != nil || !a.Allowed(ResKV, "app/x", Read) || a.Allowed(ResKV, "app/x", Write) {
		t.Fatalf("before the update: %v", err)
	}

	// An update replaces the rules; the token has them at once.
	up, err := f.s.SetPolicy(ctx, Policy{Name: "app", Description: "new", Rules: rules(t, "kv app/ write", "lock jobs/ write")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if up.CreateIndex != 1 || up.ModifyIndex != f.p.index || up.Description != "new" {
		t.Fatalf("updated policy %+v (create 1, modify %d)", up, f.p.index)
	}
	a, err = f.s.Resolve(nt.SecretID)
	if err != nil || !a.Allowed(ResKV, "app/x", Write) || !a.Allowed(ResLock, "jobs/n", Write) {
		t.Fatalf("after the update: %v", err)
	}
	ps, err := f.s.Policies(ctx, wire.ReadDefault, "app")
	if err != nil || len(ps) != 1 || ps[0].CreateIndex != 1 || ps[0].ModifyIndex != up.ModifyIndex || len(ps[0].Rules) != 2 || ps[0].Description != "new" {
		t.Fatalf("read after the update: %+v, %v", ps, err)
	}

	if _, err := f.s.SetPolicy(ctx, Policy{Name: "ghost", Rules: rules(t, "kv * read")}, false); !errors.Is(err, wire.ErrNotFound) || !strings.Contains(err.Error(), `"ghost"`) {
		t.Fatalf("update of a missing policy: %v", err)
	}
	if err := f.s.DeletePolicy(ctx, "ghost"); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("delete of a missing policy: %v", err)
	}
	if _, err := f.s.Policies(ctx, wire.ReadDefault, "ghost"); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("read of a missing policy: %v", err)
	}

	// The built-in policy cannot be changed or deleted.
	_, err = f.s.SetPolicy(ctx, Policy{Name: Management, Rules: rules(t, "kv * read")}, false)
	wantInvalid(t, "update of the built-in policy", err, "name")
	_, err = f.s.SetPolicy(ctx, Policy{Name: Management, Rules: rules(t, "kv * read")}, true)
	wantInvalid(t, "create of the built-in policy", err, "name")
	wantInvalid(t, "delete of the built-in policy", f.s.DeletePolicy(ctx, Management), "name")
	ps, err = f.s.Policies(ctx, wire.ReadDefault, Management)
	if err != nil || len(ps) != 1 || len(ps[0].Rules) != len(Resources()) {
		t.Fatalf("the built-in policy after the attempts: %+v, %v", ps, err)
	}

	// Deleting a policy takes it off every token that carries it.
	mustPolicy(t, f.s, "other", "name * read")
	t2 := mustToken(t, f.s, 0, "other", "app")
	t3 := mustToken(t, f.s, 0, "app")
	if err := f.s.DeletePolicy(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		nt   NewToken
		want []string
	}{{nt, nil}, {t2, []string{"other"}}, {t3, nil}} {
		ts, err := f.s.Tokens(ctx, wire.ReadDefault, tc.nt.AccessorID)
		if err != nil || len(ts) != 1 || fmt.Sprint(ts[0].Policies) != fmt.Sprint(tc.want) {
			t.Fatalf("token %s after the delete: %+v, %v, want policies %v", tc.nt.AccessorID, ts, err, tc.want)
		}
		a, err := f.s.Resolve(tc.nt.SecretID)
		if err != nil || a.Allowed(ResKV, "app/x", Read) {
			t.Fatalf("token %s still reads app/ after the delete (%v)", tc.nt.AccessorID, err)
		}
	}
	ps, err = f.s.Policies(ctx, wire.ReadDefault, "")
	if err != nil || len(ps) != 2 || ps[0].Name != Management || ps[1].Name != "other" {
		t.Fatalf("policies after the delete: %+v, %v", ps, err)
	}
}

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	mustPolicy(t, f.s, "app", "kv app/ write")

	before := f.p.index
	_, err := f.s.CreateToken(ctx, "x", []string{"nope"}, 0)
	wantInvalid(t, "a token with an unknown policy", err, "policies[0]")
	_, err = f.s.CreateToken(ctx, "x", []string{"app", "nope"}, 0)
	wantInvalid(t, "a token with an unknown second policy", err, "policies[1]")
	_, err = f.s.CreateToken(ctx, "x", []string{"app", "app"}, 0)
	wantInvalid(t, "a token with a policy twice", err, "policies[1]")
	_, err = f.s.CreateToken(ctx, "x", []string{"app"}, -time.Second)
	wantInvalid(t, "a negative ttl", err, "ttl")
	_, err = f.s.CreateToken(ctx, "x", []string{"app"}, 240*365*24*time.Hour) // expires past 2262: not encodable
	wantInvalid(t, "a ttl past 2262", err, "ttl")
	if f.p.index != before+2 { // the unknown policies reach the table; the rest is refused before
		t.Fatalf("%d entries proposed, want 2", f.p.index-before)
	}

	nt := mustToken(t, f.s, 0, "app")
	if !nt.ExpiresAt.IsZero() || nt.Description != "t" || nt.CreateIndex != f.p.index {
		t.Fatalf("token %+v", nt)
	}
	a, err := f.s.Resolve(nt.SecretID)
	if err != nil || a.AccessorID != nt.AccessorID || a.Description != "t" || !a.Allowed(ResKV, "app/1", Write) || a.Allowed(ResKV, "b", Read) {
		t.Fatalf("resolve: %+v, %v", a, err)
	}
	if !f.s.Valid(nt.AccessorID) {
		t.Fatal("a live token is not valid")
	}
	ts, err := f.s.Tokens(ctx, wire.ReadStale, nt.AccessorID)
	if err != nil || len(ts) != 1 || ts[0].AccessorID != nt.AccessorID || ts[0].hash != HashSecret(nt.SecretID) {
		t.Fatalf("read token: %+v, %v", ts, err)
	}

	if err := f.s.DeleteToken(ctx, nt.AccessorID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Resolve(nt.SecretID); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("resolve a deleted token: %v", err)
	}
	if f.s.Valid(nt.AccessorID) {
		t.Fatal("a deleted token is valid")
	}
	if err := f.s.DeleteToken(ctx, nt.AccessorID); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("delete a deleted token: %v", err)
	}
	if _, err := f.s.Tokens(ctx, wire.ReadDefault, nt.AccessorID); !errors.Is(err, wire.ErrNotFound) {
		t.Fatalf("read a deleted token: %v", err)
	}
	wantInvalid(t, "delete a malformed accessor", f.s.DeleteToken(ctx, "x"), "accessor_id")
	_, err = f.s.Tokens(ctx, wire.ReadDefault, "x")
	wantInvalid(t, "read a malformed accessor", err, "accessor_id")
}

func TestTokenExpiry(t *testing.T) {
	f := newFixture(enabled)
	mustPolicy(t, f.s, "app", "kv * read")
	start := f.clock.now
	nt := mustToken(t, f.s, time.Minute, "app")
	if !nt.ExpiresAt.Equal(start.Add(time.Minute)) || !f.s.Expiry(nt.AccessorID).Equal(nt.ExpiresAt) {
		t.Fatalf("expires at %v (service says %v), want %v", nt.ExpiresAt, f.s.Expiry(nt.AccessorID), start.Add(time.Minute))
	}
	forever := mustToken(t, f.s, 0, "app")
	if !f.s.Expiry(forever.AccessorID).IsZero() || !f.s.Expiry("5f0c2a4e-0000-4000-8000-000000000000").IsZero() {
		t.Fatal("a token that never expires, or none, has an expiry")
	}

	f.clock.now = start.Add(time.Minute - time.Nanosecond)
	if _, err := f.s.Resolve(nt.SecretID); err != nil || !f.s.Valid(nt.AccessorID) {
		t.Fatalf("just before expiry: %v", err)
	}
	f.clock.now = start.Add(time.Minute)
	if _, err := f.s.Resolve(nt.SecretID); !errors.Is(err, ErrUnauthenticated) || f.s.Valid(nt.AccessorID) {
		t.Fatalf("at expiry: %v (valid %v)", err, f.s.Valid(nt.AccessorID))
	}
	if _, err := f.s.Resolve(forever.SecretID); err != nil {
		t.Fatalf("a token without expiry, later: %v", err)
	}
}

func TestResolve(t *testing.T) {
	for _, defaultAllow := range []bool{false, true} {
		t.Run(fmt.Sprint("default allow ", defaultAllow), func(t *testing.T) {
			f := newFixture(Config{Enabled: true, DefaultAllow: defaultAllow})
			anon, err := f.s.Resolve("")
			if err != nil || anon.AccessorID != "" || !anon.Enforcing() || anon.Allowed(ResKV, "x", Read) != defaultAllow || anon.Authenticated() != defaultAllow {
				t.Fatalf("anonymous: %+v, %v", anon, err)
			}
			for _, secret := range []string{"x", "not-a-uuid", "5F0C2A4E-0000-4000-8000-000000000000", "5f0c2a4e-0000-4000-8000-000000000000"} {
				a, err := f.s.Resolve(secret)
				if !errors.Is(err, ErrUnauthenticated) || a != nil {
					t.Fatalf("resolve %q: %v, %v", secret, a, err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the refusal repeats the secret: %v", err)
				}
			}
			if !f.s.Valid("") || f.s.Valid("5f0c2a4e-0000-4000-8000-000000000000") {
				t.Fatal("Valid: anonymous is always valid, an unknown accessor never")
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	ctx := context.Background()
	f := newFixture(Config{})
	if f.s.Enabled() {
		t.Fatal("enabled")
	}
	for _, secret := range []string{"", "junk", "5f0c2a4e-0000-4000-8000-000000000000"} {
		a, err := f.s.Resolve(secret)
		if err != nil || a.Enforcing() || !a.Allowed(ResACL, "", Write) {
			t.Fatalf("resolve %q with ACLs off: %+v, %v", secret, a, err)
		}
	}
	if _, err := f.s.Bootstrap(ctx, 0); !errors.Is(err, ErrDisabled) {
		t.Fatalf("bootstrap with ACLs off: %v", err)
	}
	if f.p.index != 0 {
		t.Fatalf("bootstrap with ACLs off proposed %d entries", f.p.index)
	}
	if !f.s.Valid("5f0c2a4e-0000-4000-8000-000000000000") {
		t.Fatal("with ACLs off every accessor is valid")
	}
}

// Changed is closed by every successful apply and by nothing refused.
func TestChanged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	steps := []struct {
		name string
		do   func() error
		ok   bool
	}{
		{"bootstrap", func() error { _, err := f.s.Bootstrap(ctx, 0); return err }, true},
		{"bootstrap again", func() error { _, err := f.s.Bootstrap(ctx, 0); return err }, false},
		{"create policy", func() error {
			_, err := f.s.SetPolicy(ctx, Policy{Name: "p", Rules: rules(t, "kv * read")}, true)
			return err
		}, true},
		{"create it again", func() error {
			_, err := f.s.SetPolicy(ctx, Policy{Name: "p", Rules: rules(t, "kv * read")}, true)
			return err
		}, false},
		{"update it", func() error {
			_, err := f.s.SetPolicy(ctx, Policy{Name: "p", Rules: rules(t, "kv * write")}, false)
			return err
		}, true},
		{"update a missing one", func() error {
			_, err := f.s.SetPolicy(ctx, Policy{Name: "q", Rules: rules(t, "kv * write")}, false)
			return err
		}, false},
		{"token with a missing policy", func() error { _, err := f.s.CreateToken(ctx, "", []string{"q"}, 0); return err }, false},
		{"delete the built-in policy", func() error { return f.s.DeletePolicy(ctx, Management) }, false},
		{"delete a missing token", func() error { return f.s.DeleteToken(ctx, "5f0c2a4e-0000-4000-8000-000000000000") }, false},
		{"delete the policy", func() error { return f.s.DeletePolicy(ctx, "p") }, true},
	}
	for _, st := range steps {
		ch := f.s.Changed()
		err := st.do()
		if (err == nil) != st.ok {
			t.Fatalf("%s: %v", st.name, err)
		}
		if closed(ch) != st.ok {
			t.Fatalf("%s (ok %v): Changed closed %v", st.name, st.ok, closed(ch))
		}
		if closed(f.s.Changed()) {
			t.Fatalf("%s: the next Changed is already closed", st.name)
		}
	}
}

// The result of a policy write and a listing carry what the table holds,
// not what the caller sent: indexes are the table's.
func TestPolicyIndexesAreTheTables(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	p, err := f.s.SetPolicy(ctx, Policy{Name: "a", Rules: rules(t, "kv * read"), CreateIndex: 77, ModifyIndex: 88}, true)
	if err != nil || p.CreateIndex != 1 || p.ModifyIndex != 1 {
		t.Fatalf("create: %+v, %v", p, err)
	}
	mustPolicy(t, f.s, "b", "kv * read")
	p, err = f.s.SetPolicy(ctx, Policy{Name: "a", Rules: rules(t, "kv * write"), CreateIndex: 77, ModifyIndex: 88}, false)
	if err != nil || p.CreateIndex != 1 || p.ModifyIndex != 3 {
		t.Fatalf("update: %+v, %v", p, err)
	}
}

// snapshot is the table's section, nil for none.
func snapshot(t *testing.T, r *Replicated) []byte {
	t.Helper()
	w, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if w == nil {
		return nil
	}
	var b bytes.Buffer
	if err := w(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func restore(r *Replicated, b []byte) error {
	var br *bufio.Reader
	if b != nil {
		br = bufio.NewReader(bytes.NewReader(b))
	}
	commit, err := r.Restore(br)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// queries are every answer the table gives for the names in use.
func queries(t *testing.T, r *Replicated, policies, accessors []string) []string {
	t.Helper()
	var qs [][]byte
	for _, n := range append([]string{""}, policies...) {
		qs = append(qs, policiesQuery(n))
	}
	for _, a := range append([]string{""}, accessors...) {
		qs = append(qs, tokensQuery(a))
	}
	qs = append(qs, wire.Command(TableID, queryState).Data())
	var out []string
	for _, q := range qs {
		_, op, d, err := wire.ParseCommand(q)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Query(op, d)
		if err != nil {
			t.Fatalf("query %x: %v", q, err)
		}
		out = append(out, fmt.Sprintf("%x", res))
	}
	return out
}

func TestSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	boot, err := f.s.Bootstrap(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustPolicy(t, f.s, "app", "kv app/ write", "kv app/secret/ deny")
	mustPolicy(t, f.s, "dash", "kv * read", "lock * read")
	mustPolicy(t, f.s, "gone", "kv * read")
	live := mustToken(t, f.s, 0, "app", "dash")
	exp := mustToken(t, f.s, time.Hour, "dash")
	gone := mustToken(t, f.s, 0, "gone")
	if err := f.s.DeletePolicy(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.DeleteToken(ctx, gone.AccessorID); err != nil {
		t.Fatal(err)
	}

	b := snapshot(t, f.p.t)
	if b == nil {
		t.Fatal("a table with tokens has no snapshot section")
	}
	r := NewReplicated()
	ch := r.Changed()
	if err := restore(r, b); err != nil {
		t.Fatal(err)
	}
	if !closed(ch) {
		t.Fatal("a restore did not close Changed")
	}
	names := []string{Management, "app", "dash", "gone"}
	accessors := []string{boot.AccessorID, live.AccessorID, exp.AccessorID, gone.AccessorID}
	if got, want := queries(t, r, names, accessors), queries(t, f.p.t, names, accessors); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored answers\n%v\nwant\n%v", got, want)
	}
	if again := snapshot(t, r); !bytes.Equal(again, b) {
		t.Fatal("the restored table snapshots differently")
	}
	if pc, tc := r.Counts(); pc != 3 || tc != 3 {
		t.Fatalf("restored counts %d policies, %d tokens", pc, tc)
	}

	// The restored table resolves the same secrets to the same rules.
	rs := NewService(enabled, &fakeProposer{t: r, index: f.p.index}, r, f.clock.Now)
	for _, nt := range []NewToken{boot, live, exp} {
		a1, err1 := f.s.Resolve(nt.SecretID)
		a2, err2 := rs.Resolve(nt.SecretID)
		if err1 != nil || err2 != nil || fmt.Sprint(a1) != fmt.Sprint(a2) {
			t.Fatalf("resolve %s: %+v, %v; restored %+v, %v", nt.AccessorID, a1, err1, a2, err2)
		}
	}
	if _, err := rs.Resolve(gone.SecretID); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a deleted token resolves after a restore: %v", err)
	}
	if !rs.Expiry(exp.AccessorID).Equal(exp.ExpiresAt) {
		t.Fatalf("restored expiry %v, want %v", rs.Expiry(exp.AccessorID), exp.ExpiresAt)
	}
	f.clock.now = exp.ExpiresAt
	if _, err := rs.Resolve(exp.SecretID); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("an expired token resolves after a restore: %v", err)
	}
	// The bootstrap survives a restore: a second one is still refused.
	if _, err := rs.Bootstrap(ctx, 0); !errors.Is(err, ErrBootstrapped) || !strings.Contains(err.Error(), "index 1") {
		t.Fatalf("bootstrap after a restore: %v", err)
	}
}

func TestSnapshotOfAnUntouchedTable(t *testing.T) {
	r := NewReplicated()
	if b := snapshot(t, r); b != nil {
		t.Fatalf("an untouched table has a section of %d bytes", len(b))
	}
	// A table with state restored from no section is empty again.
	f := newFixture(enabled)
	mustPolicy(t, f.s, "p", "kv * read")
	mustToken(t, f.s, 0, "p")
	if err := restore(f.p.t, nil); err != nil {
		t.Fatal(err)
	}
	ps, ts := f.p.t.Counts()
	got := queries(t, f.p.t, nil, nil)
	if ps != 1 || ts != 0 || fmt.Sprint(got) != fmt.Sprint(queries(t, NewReplicated(), nil, nil)) {
		t.Fatalf("after Restore(nil): %d policies, %d tokens; %v", ps, ts, got)
	}
	if b := snapshot(t, f.p.t); b != nil {
		t.Fatal("a table restored from no section has a section")
	}
}

// Every truncation of a section fails Restore and leaves the table as it
// was.
func TestRestoreTruncated(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	if _, err := f.s.Bootstrap(ctx, 0); err != nil {
		t.Fatal(err)
	}
	mustPolicy(t, f.s, "p", "kv a/ write")
	mustToken(t, f.s, time.Hour, "p")
	full := snapshot(t, f.p.t)

	g := newFixture(enabled)
	mustPolicy(t, g.s, "mine", "lock * write")
	mustToken(t, g.s, 0, "mine")
	before := snapshot(t, g.p.t)
	for n := 0; n < len(full); n++ {
		ch := g.p.t.Changed()
		if err := restore(g.p.t, full[:n]); err == nil {
			t.Fatalf("restore of %d of %d bytes succeeded", n, len(full))
		}
		if closed(ch) || !bytes.Equal(snapshot(t, g.p.t), before) {
			t.Fatalf("a failed restore of %d bytes changed the table", n)
		}
	}
}

// Commands are the table's rules, not its state: the same commands at
// the same indexes give byte-identical results and snapshots on every
// replica, and a refused command changes nothing.
func TestDeterminism(t *testing.T) {
	hash := func(i int) Hash { return HashSecret(fmt.Sprintf("secret-%d", i)) }
	acc := func(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i*2654435761%(1<<32), i) }
	var cmds [][]byte
	add := func(c Command) { cmds = append(cmds, c.Marshal()) }
	add(BootstrapCommand(&Token{AccessorID: acc(0), hash: hash(0)}, 0))
	for i := range 6 {
		add(PolicySet(&Policy{Name: fmt.Sprintf("p%d", 5-i), Rules: []Rule{{ResKV, fmt.Sprint(i), Write}}}, true))
	}
	for i := 1; i <= 40; i++ {
		add(TokenCreate(&Token{AccessorID: acc(i), Description: fmt.Sprint(i), Policies: []string{fmt.Sprintf("p%d", i%6), fmt.Sprintf("p%d", (i+1)%6)}, hash: hash(i), ExpiresAt: time.Unix(int64(i), 0)}))
	}
	add(PolicyDelete("p3"))
	add(PolicySet(&Policy{Name: "p1", Rules: []Rule{{ResLock, "*", Read}}}, false))
	add(TokenDelete(acc(7)))
	// Refused by the state, each with a change before it would refuse if
	// the table checked late.
	add(BootstrapCommand(&Token{AccessorID: acc(99), hash: hash(99)}, 0))
	add(BootstrapCommand(&Token{AccessorID: acc(1), hash: hash(98)}, 1)) // a reset whose token's accessor is taken
	add(BootstrapCommand(&Token{AccessorID: acc(97), hash: hash(2)}, 1)) // a reset whose token's secret is taken
	add(TokenCreate(&Token{AccessorID: acc(2), hash: hash(50)}))         // accessor taken
	add(TokenCreate(&Token{AccessorID: acc(50), hash: hash(2)}))         // secret taken
	add(TokenCreate(&Token{AccessorID: acc(51), Policies: []string{"p0", "p3"}, hash: hash(51)}))
	add(PolicySet(&Policy{Name: "p0", Rules: []Rule{{ResKV, "*", Deny}}}, true))
	add(PolicySet(&Policy{Name: "p3", Rules: []Rule{{ResKV, "*", Deny}}}, false))
	add(PolicyDelete("p3"))
	add(PolicyDelete(Management))
	add(TokenDelete(acc(7)))

	apply := func(r *Replicated, i int, cmd []byte) ([]byte, error) {
		_, op, d, err := wire.ParseCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return r.Apply(uint64(i+1), op, d)
	}
	a, b := NewReplicated(), NewReplicated()
	refused := 0
	for i, cmd := range cmds {
		before := snapshot(t, a)
		ra, erra := apply(a, i, cmd)
		rb, errb := apply(b, i, cmd)
		if erra != nil || errb != nil {
			t.Fatalf("command %d: %v, %v", i, erra, errb)
		}
		if !bytes.Equal(ra, rb) {
			t.Fatalf("command %d: results differ: %x, %x", i, ra, rb)
		}
		if _, e := wire.ParseResult(ra); e != nil {
			refused++
			if !bytes.Equal(snapshot(t, a), before) {
				t.Fatalf("command %d was refused (%v) and changed the table", i, e)
			}
		}
		if sa, sb := snapshot(t, a), snapshot(t, b); !bytes.Equal(sa, sb) {
			t.Fatalf("after command %d the snapshots differ", i)
		}
	}
	if refused != 11 {
		t.Fatalf("%d commands refused, want 11", refused)
	}
	// A third replica restored from the snapshot and one rebuilt answer
	// alike.
	c := NewReplicated()
	if err := restore(c, snapshot(t, a)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshot(t, c), snapshot(t, a)) {
		t.Fatal("restored snapshot differs")
	}
}

// The built-in policy is the binary's, never the snapshot's: a table
// restored from a section written when global-management had fewer rules
// (before a resource was appended) has today's, as a replica that replays
// the log from the start does; else replicas would disagree on what the
// management token may do.
func TestRestoreKeepsTheBuiltInPolicy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	boot, err := f.s.Bootstrap(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.p.t.s.policies[Management] = &Policy{Name: Management, Rules: []Rule{{ResKV, Everything, Write}}} // an older built-in
	r := NewReplicated()
	if err := restore(r, snapshot(t, f.p.t)); err != nil {
		t.Fatal(err)
	}
	rs := NewService(enabled, &fakeProposer{t: r}, r, f.clock.Now)
	a, err := rs.Resolve(boot.SecretID)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range Resources() {
		if !a.Allowed(res, "x", Write) {
			t.Fatalf("after a restore the management token may not write %s", res)
		}
	}
	ps, err := rs.Policies(ctx, wire.ReadDefault, Management)
	if err != nil || len(ps) != 1 || fmt.Sprint(ps[0]) != fmt.Sprint(*managementPolicy()) {
		t.Fatalf("restored built-in policy %+v, %v", ps, err)
	}
}

// A reset on a table at its token limit still recovers: the token it
// replaces makes room for the new one (the operator has no token left to
// delete another with).
func TestBootstrapResetAtTheTokenLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(enabled)
	first, err := f.s.Bootstrap(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(f.p.t.s.tokens); i < MaxTokens; i++ {
		tok := &Token{AccessorID: fmt.Sprintf("00000000-0000-4000-8000-%012x", i), hash: HashSecret(fmt.Sprint(i))}
		f.p.t.s.tokens[tok.AccessorID], f.p.t.s.byHash[tok.hash] = tok, tok
	}
	if _, err := f.s.CreateToken(ctx, "", nil, 0); !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), "the limit") {
		t.Fatalf("a token past the limit: %v", err)
	}
	f.s.cfg.ResetFile = filepath.Join(t.TempDir(), "reset")
	writeReset(t, f.s.cfg.ResetFile, first.CreateIndex)
	nt, err := f.s.Bootstrap(ctx, first.CreateIndex)
	if err != nil {
		t.Fatalf("reset at the token limit: %v", err)
	}
	if _, err := f.s.Resolve(nt.SecretID); err != nil {
		t.Fatal(err)
	}
	if _, tokens := f.p.t.Counts(); tokens != MaxTokens {
		t.Fatalf("%d tokens after the reset, want %d", tokens, MaxTokens)
	}
}
