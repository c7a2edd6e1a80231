package cluster

import (
	"github.com/conclave-dev/conclave/internal/wire"

	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internode"
)

// KeyringOp is a cluster-wide gossip keyring operation (`conclave keyring`).
type KeyringOp byte

// The operations. Values are wire format (the ClassKeyring request): never
// renumber.
const (
	KeyringList    KeyringOp = 1
	KeyringInstall KeyringOp = 2
	KeyringUse     KeyringOp = 3
	KeyringRemove  KeyringOp = 4
)

// String names the op as the CLI does.
func (o KeyringOp) String() string {
	switch o {
	case KeyringList:
		return "list"
	case KeyringInstall:
		return "install"
	case KeyringUse:
		return "use"
	case KeyringRemove:
		return "remove"
	}
	return fmt.Sprintf("op(%d)", byte(o))
}

// keyringTimeout bounds how long Keyring waits for each node; a node that
// has not answered by then is reported as failed.
const keyringTimeout = 5 * time.Second

// KeyringNodeResult is one node's answer to a keyring operation.
type KeyringNodeResult struct {
	Node string
	// Err is what failed on that node (nil: applied); a node that did not
	// answer in time has an error wrapping context.DeadlineExceeded.
	Err error
	// Primary and Keys are the node's keyring after the operation (base64,
	// primary first); empty when Err is set.
	Primary string
	Keys    []string
}

// KeyringKeySummary counts one key over the nodes that answered.
type KeyringKeySummary struct {
	Key string
	// Nodes have the key installed; PrimaryOn use it as their primary.
	Nodes, PrimaryOn int
}

// KeyringResult is the outcome of a cluster-wide keyring operation.
type KeyringResult struct {
	// Nodes has one entry per live gossip member, this node included, by name.
	Nodes []KeyringNodeResult
	// Keys summarises every key seen on any node, by key.
	Keys []KeyringKeySummary
}

// Failed counts the nodes whose entry has an error.
func (r KeyringResult) Failed() int {
	c := 0
	for _, nr := range r.Nodes {
		if nr.Err != nil {
			c++
		}
	}
	return c
}

// Keyring applies op to the gossip keyring of every live member (this node
// and every peer alive in its gossip view, over the internode mesh) and
// reports per node, as `consul keyring` does. key is the base64 key (unused
// for list). Bad input is refused before any node changes: a malformed key
// with ErrInvalidArgument; with ErrKeyring when gossip encryption is off
// on this node, when use names a key this node has not installed, or when
// remove names this node's primary key. Failures on other nodes (and nodes
// that do not answer within keyringTimeout or ctx) are in the result, not
// the error: install, use and remove are idempotent, so running the same
// command again completes a partial rotation.
func (n *Node) Keyring(ctx context.Context, op KeyringOp, key string) (KeyringResult, error) {
	if err := n.keyringPrecheck(op, key); err != nil {
		return KeyringResult{}, err
	}
	deadline := time.Now().Add(keyringTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	peers := n.livePeers()
	results := make(chan KeyringNodeResult, len(peers)+1)
	req := encodeKeyringRequest(op, key)
	for _, m := range peers {
		go func(m gossip.Member) { results <- n.keyringPeer(ctx, m, req) }(m)
	}
	results <- n.applyKeyring(op, key)
	var out KeyringResult
	for range len(peers) + 1 {
		out.Nodes = append(out.Nodes, <-results)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	out.Keys = summariseKeys(out.Nodes)
	ev := n.log.Info()
	if op == KeyringList {
		ev = n.log.Debug()
	}
	if f := out.Failed(); f > 0 {
		ev = n.log.Warn().Int("failed", f)
	}
	ev.Str("op", op.String()).Int("nodes", len(out.Nodes)).Msg("gossip keyring operation")
	return out, nil
}

// keyringPrecheck refuses what would fail on this node before anything
// changes anywhere.
func (n *Node) keyringPrecheck(op KeyringOp, key string) error {
	if op < KeyringList || op > KeyringRemove {
		return fmt.Errorf("%w: op: %d is not a keyring operation", ErrInvalidArgument, byte(op))
	}
	if !n.ml.Encrypted() {
		return fmt.Errorf("%w: %w: set cluster.membership.secret on every node and restart them; "+
			"keys can then be rotated at runtime", ErrKeyring, gossip.ErrEncryptionOff)
	}
	if op == KeyringList {
		return nil
	}
	if _, err := gossip.ParseKey(key); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	st, err := n.ml.ListKeys()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyring, err)
	}
	switch {
	case op == KeyringUse && !slices.Contains(st.Keys, key):
		return fmt.Errorf("%w: key: not installed on node %s; install it on every node first", ErrKeyring, n.Name())
	case op == KeyringRemove && st.Primary == key:
		return fmt.Errorf("%w: key: it is the primary key of node %s; use another key first", ErrKeyring, n.Name())
	}
	return nil
}

// keyringPeer sends the operation to one peer, retrying dials that fail
// until ctx ends (the operations are idempotent); an error the peer
// answered is final.
func (n *Node) keyringPeer(ctx context.Context, m gossip.Member, req []byte) KeyringNodeResult {
	r := KeyringNodeResult{Node: m.Name}
	if m.Meta.InternodeAddr == "" {
		r.Err = errors.New("no internode address in its gossip meta")
		return r
	}
	for {
		resp, err := n.mesh.Request(ctx, m.Meta.InternodeAddr, internode.ClassKeyring, req)
		var remote *internode.RemoteError
		switch {
		case err == nil:
			r.Primary, r.Keys, r.Err = decodeKeyringReply(resp)
			return r
		case errors.As(err, &remote):
			r.Err = remote
			return r
		}
		select {
		case <-ctx.Done():
			r.Err = fmt.Errorf("no answer: %w (last error: %v)", ctx.Err(), err)
			return r
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// applyKeyring applies op to this node's keyring and reports the result.
func (n *Node) applyKeyring(op KeyringOp, key string) KeyringNodeResult {
	r := KeyringNodeResult{Node: n.Name()}
	switch op {
	case KeyringInstall:
		r.Err = n.ml.InstallKey(key)
	case KeyringUse:
		r.Err = n.ml.UseKey(key)
	case KeyringRemove:
		r.Err = n.ml.RemoveKey(key)
	case KeyringList:
	default:
		r.Err = fmt.Errorf("%w: op: %d is not a keyring operation", ErrInvalidArgument, byte(op))
	}
	if r.Err != nil {
		return r
	}
	st, err := n.ml.ListKeys()
	r.Primary, r.Keys, r.Err = st.Primary, st.Keys, err
	return r
}

// handleKeyring serves a peer's ClassKeyring request: it applies the
// operation to this node's keyring and answers its keyring afterwards. A
// request that does not decode is counted and refused.
func (n *Node) handleKeyring(_ context.Context, req []byte) ([]byte, error) {
	d := wire.NewDecoder(req)
	ver, op, key := d.Byte(), KeyringOp(d.Byte()), d.String()
	if d.Done() != nil || ver != keyringVersion || op < KeyringList || op > KeyringRemove {
		n.keyringMalformed.Add(1)
		return nil, fmt.Errorf("%w: malformed keyring request", ErrInvalidArgument)
	}
	r := n.applyKeyring(op, key)
	if r.Err != nil {
		n.log.Warn().Err(r.Err).Str("op", op.String()).Msg("gossip keyring operation refused")
		return nil, r.Err
	}
	ev := n.log.Info()
	if op == KeyringList {
		ev = n.log.Debug() // a read: not worth a line per node per call
	}
	ev.Str("op", op.String()).Str("from", "peer").Int("keys", len(r.Keys)).Msg("gossip keyring operation applied")
	return encodeKeyringReply(r.Primary, r.Keys), nil
}

// Wire format of ClassKeyring: request [1] op key; reply [1] primary
// count key... (uvarint-framed strings, cluster/codec.go).
const keyringVersion = 1

// maxKeyringKeys bounds a decoded reply: a keyring holds a handful of keys.
const maxKeyringKeys = 64

func encodeKeyringRequest(op KeyringOp, key string) []byte {
	e := wire.NewEncoder(keyringVersion, byte(op))
	e.String(key)
	return e.Data()
}

func encodeKeyringReply(primary string, keys []string) []byte {
	e := wire.NewEncoder(keyringVersion)
	e.String(primary)
	e.Uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.String(k)
	}
	return e.Data()
}

func decodeKeyringReply(b []byte) (string, []string, error) {
	d := wire.NewDecoder(b)
	ver, primary, count := d.Byte(), d.String(), d.Uvarint()
	if d.Err() == nil && (ver != keyringVersion || count > maxKeyringKeys) {
		d.Fail("")
	}
	var keys []string
	for i := uint64(0); d.Err() == nil && i < count; i++ {
		keys = append(keys, d.String())
	}
	if err := d.Done(); err != nil {
		return "", nil, fmt.Errorf("malformed keyring reply: %w", err)
	}
	return primary, keys, nil
}

func summariseKeys(nodes []KeyringNodeResult) []KeyringKeySummary {
	byKey := map[string]*KeyringKeySummary{}
	for _, nr := range nodes {
		if nr.Err != nil {
			continue
		}
		for _, k := range nr.Keys {
			s := byKey[k]
			if s == nil {
				s = &KeyringKeySummary{Key: k}
				byKey[k] = s
			}
			s.Nodes++
			if k == nr.Primary {
				s.PrimaryOn++
			}
		}
	}
	out := make([]KeyringKeySummary, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// livePeers are the other nodes alive in this node's gossip view.
func (n *Node) livePeers() []gossip.Member {
	var peers []gossip.Member
	for _, m := range n.ml.Members() {
		if m.Name != n.Name() && m.State == gossip.StateAlive {
			peers = append(peers, m)
		}
	}
	return peers
}
