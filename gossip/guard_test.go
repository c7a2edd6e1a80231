package gossip

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// syncBuffer is a log sink safe for the memberlist goroutines that write it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func joinCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), converge)
	t.Cleanup(cancel)
	return ctx
}

func TestEncryption(t *testing.T) {
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 16)
	withKeys := func(keys ...[]byte) func(*Config) { return func(c *Config) { c.Keys = keys } }

	a := startNode(t, "a", nodeOpt{cfg: withKeys(key1)})
	// b also holds key2 (as during a key rotation); it encrypts with key1.
	b := startNode(t, "b", nodeOpt{cfg: withKeys(key1, key2)})
	if _, err := b.Join(joinCtx(t), []string{a.LocalAddr()}); err != nil {
		t.Fatalf("join with a shared key: %v", err)
	}
	waitFor(t, converge, "a and b see each other", func() bool { return a.NumAlive() == 2 && b.NumAlive() == 2 })

	c := startNode(t, "c", nodeOpt{cfg: withKeys(key2)})
	if _, err := c.Join(joinCtx(t), []string{a.LocalAddr()}); !errors.Is(err, ErrJoinFailed) {
		t.Fatalf("join with the wrong key: err = %v, want ErrJoinFailed", err)
	}
	plain := startNode(t, "plain", nodeOpt{})
	if _, err := plain.Join(joinCtx(t), []string{a.LocalAddr()}); !errors.Is(err, ErrJoinFailed) {
		t.Fatalf("join without encryption: err = %v, want ErrJoinFailed", err)
	}
	if names := aliveNames(a); len(names) != 2 || names["c"] || names["plain"] {
		t.Fatalf("a sees %v, want only a and b", names)
	}
	if c.NumAlive() != 1 || plain.NumAlive() != 1 {
		t.Fatalf("rejected nodes see %d and %d alive, want 1 each", c.NumAlive(), plain.NumAlive())
	}
}

// pair starts two nodes with one cluster ID, the second joined to the first.
func pair(t *testing.T, a, b, id string, seedOpts ...Option) (*Membership, *Membership) {
	t.Helper()
	seed := startNode(t, a, nodeOpt{opts: seedOpts})
	other := startNode(t, b, nodeOpt{})
	if _, err := other.Join(joinCtx(t), []string{seed.LocalAddr()}); err != nil {
		t.Fatalf("join %s to %s: %v", b, a, err)
	}
	seed.SetClusterID(id)
	other.SetClusterID(id)
	for _, n := range []*Membership{seed, other} {
		waitFor(t, converge, n.LocalName()+" sees its pair with id "+id, func() bool {
			for _, name := range []string{a, b} {
				if mem, ok := n.Member(name); !ok || mem.Meta.ClusterID != id || mem.State != StateAlive {
					return false
				}
			}
			return true
		})
	}
	return seed, other
}

func TestClusterIDGuardKeepsClustersApart(t *testing.T) {
	var logs syncBuffer
	a1, a2 := pair(t, "a1", "a2", "cluster-a", WithLogger(zerolog.New(&logs)))
	b1, b2 := pair(t, "b1", "b2", "cluster-b")

	_, err := b1.Join(joinCtx(t), []string{a1.LocalAddr()})
	if !errors.Is(err, ErrJoinFailed) || !errors.Is(err, ErrForeignCluster) {
		t.Fatalf("cross-cluster join err = %v, want ErrJoinFailed wrapping ErrForeignCluster", err)
	}
	// Both sides refused: b1 while merging a1's state, a1 while merging b1's.
	waitFor(t, converge, "a1 counts the refusal", func() bool { return a1.Stats().RejectedForeign > 0 })
	if b1.Stats().RejectedForeign == 0 {
		t.Fatal("b1 did not count the refusal")
	}
	// Loudly, but once per peer per window however often the peer retries.
	for range 3 {
		_, _ = b1.Join(joinCtx(t), []string{a1.LocalAddr()})
	}
	if n := strings.Count(logs.String(), `"peer":"b1"`); n != 1 {
		t.Errorf("a1 logged %d warnings about b1, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"cluster_id":"cluster-a","peer_cluster_id":"cluster-b"`) {
		t.Errorf("warning does not name both cluster ids:\n%s", logs.String())
	}
	for _, tc := range []struct {
		n    *Membership
		want []string
	}{{a1, []string{"a1", "a2"}}, {a2, []string{"a1", "a2"}}, {b1, []string{"b1", "b2"}}, {b2, []string{"b1", "b2"}}} {
		members := tc.n.Members()
		if len(members) != 2 || members[0].Name != tc.want[0] || members[1].Name != tc.want[1] {
			t.Errorf("%s sees %v, want only %v", tc.n.LocalName(), members, tc.want)
		}
	}

	// A node without an ID (a fresh node) may join a formed cluster.
	fresh := startNode(t, "fresh", nodeOpt{})
	if _, err := fresh.Join(joinCtx(t), []string{a1.LocalAddr()}); err != nil {
		t.Fatalf("fresh node join: %v", err)
	}
	waitFor(t, converge, "a2 sees fresh", func() bool { return sees(a2, "fresh", StateAlive) })
}

func TestDuplicateNameReported(t *testing.T) {
	seed := startNode(t, "seed", nodeOpt{})
	first := startNode(t, "dup", nodeOpt{})
	if _, err := first.Join(joinCtx(t), []string{seed.LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	// The seed merges a joiner's state after answering it: wait for that.
	waitFor(t, converge, "seed knows the first dup", func() bool {
		mem, ok := seed.Member("dup")
		return ok && mem.Addr == first.LocalAddr()
	})
	second := startNode(t, "dup", nodeOpt{})
	_, _ = second.Join(joinCtx(t), []string{seed.LocalAddr()}) // may fail: the point is the report
	waitFor(t, converge, "duplicate name counted", func() bool {
		return seed.Stats().DuplicateName > 0 || second.Stats().DuplicateName > 0
	})
	if mem, _ := seed.Member("dup"); mem.Addr != first.LocalAddr() {
		t.Fatalf("seed lets the second claimant replace the first: %+v", mem)
	}
}
