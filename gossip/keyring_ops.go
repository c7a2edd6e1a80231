package gossip

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
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

// Requester carries a keyring request to the peer at its internode
// address and returns the peer's answer (cluster passes the mesh). An
// error the peer answered wraps ErrPeerAnswered: it is final; any other
// (a refused dial, a dropped link) is retried until the operation's
// deadline.
type Requester interface {
	Request(ctx context.Context, addr string, req []byte) ([]byte, error)
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
func (m *Membership) Keyring(ctx context.Context, op KeyringOp, key string, peers Requester) (KeyringResult, error) {
	if err := m.keyringPrecheck(op, key); err != nil {
		return KeyringResult{}, err
	}
	deadline := time.Now().Add(keyringTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var live []Member
	for _, p := range m.Members() {
		if p.Name != m.cfg.Name && p.State == StateAlive {
			live = append(live, p)
		}
	}
	results := make(chan KeyringNodeResult, len(live)+1)
	req := encodeKeyringRequest(op, key)
	for _, p := range live {
		go func(p Member) { results <- keyringPeer(ctx, peers, p, req) }(p)
	}
	results <- m.applyKeyring(op, key)
	var out KeyringResult
	for range len(live) + 1 {
		out.Nodes = append(out.Nodes, <-results)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	out.Keys = summariseKeys(out.Nodes)
	ev := m.log.Info()
	if op == KeyringList {
		ev = m.log.Debug()
	}
	if f := out.Failed(); f > 0 {
		ev = m.log.Warn().Int("failed", f)
	}
	ev.Str("op", op.String()).Int("nodes", len(out.Nodes)).Msg("gossip keyring operation")
	return out, nil
}

// keyringPrecheck refuses what would fail on this node before anything
// changes anywhere.
func (m *Membership) keyringPrecheck(op KeyringOp, key string) error {
	if op < KeyringList || op > KeyringRemove {
		return wire.Invalidf("op", "%d is not a keyring operation", byte(op))
	}
	if !m.Encrypted() {
		return fmt.Errorf("%w: %w: set cluster.membership.secret on every node and restart them; "+
			"keys can then be rotated at runtime", ErrKeyring, ErrEncryptionOff)
	}
	if op == KeyringList {
		return nil
	}
	if _, err := ParseKey(key); err != nil {
		return fmt.Errorf("%w: %w", wire.ErrInvalid, err)
	}
	st, err := m.ListKeys()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyring, err)
	}
	switch {
	case op == KeyringUse && !slices.Contains(st.Keys, key):
		return fmt.Errorf("%w: key: not installed on node %s; install it on every node first", ErrKeyring, m.cfg.Name)
	case op == KeyringRemove && st.Primary == key:
		return fmt.Errorf("%w: key: it is the primary key of node %s; use another key first", ErrKeyring, m.cfg.Name)
	}
	return nil
}

// keyringPeer sends the operation to one peer, retrying dials that fail
// until ctx ends (the operations are idempotent); an error the peer
// answered is final.
func keyringPeer(ctx context.Context, peers Requester, m Member, req []byte) KeyringNodeResult {
	r := KeyringNodeResult{Node: m.Name}
	if m.Meta.InternodeAddr == "" {
		r.Err = errors.New("no internode address in its gossip meta")
		return r
	}
	for {
		resp, err := peers.Request(ctx, m.Meta.InternodeAddr, req)
		switch {
		case err == nil:
			r.Primary, r.Keys, r.Err = decodeKeyringReply(resp)
			return r
		case errors.Is(err, ErrPeerAnswered):
			r.Err = err
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
func (m *Membership) applyKeyring(op KeyringOp, key string) KeyringNodeResult {
	r := KeyringNodeResult{Node: m.cfg.Name}
	switch op {
	case KeyringInstall:
		r.Err = m.InstallKey(key)
	case KeyringUse:
		r.Err = m.UseKey(key)
	case KeyringRemove:
		r.Err = m.RemoveKey(key)
	case KeyringList:
	default:
		r.Err = wire.Invalidf("op", "%d is not a keyring operation", byte(op))
	}
	if r.Err != nil {
		return r
	}
	st, err := m.ListKeys()
	r.Primary, r.Keys, r.Err = st.Primary, st.Keys, err
	return r
}

// HandleKeyring serves a peer's keyring request (cluster routes the
// mesh's keyring class here): it applies the operation to this node's
// keyring and answers its keyring afterwards. A request that does not
// decode is counted (KeyringMalformed) and refused.
func (m *Membership) HandleKeyring(req []byte) ([]byte, error) {
	d := wire.NewDecoder(req)
	ver, op, key := d.Byte(), KeyringOp(d.Byte()), d.String()
	if d.Done() != nil || ver != keyringVersion || op < KeyringList || op > KeyringRemove {
		m.keyringMalformed.Add(1)
		return nil, fmt.Errorf("%w: malformed keyring request", wire.ErrInvalid)
	}
	r := m.applyKeyring(op, key)
	if r.Err != nil {
		m.log.Warn().Err(r.Err).Str("op", op.String()).Msg("gossip keyring operation refused")
		return nil, r.Err
	}
	ev := m.log.Info()
	if op == KeyringList {
		ev = m.log.Debug() // a read: not worth a line per node per call
	}
	ev.Str("op", op.String()).Str("from", "peer").Int("keys", len(r.Keys)).Msg("gossip keyring operation applied")
	return encodeKeyringReply(r.Primary, r.Keys), nil
}

// KeyringMalformed counts peers' keyring requests that did not decode.
func (m *Membership) KeyringMalformed() uint64 { return m.keyringMalformed.Load() }

// Wire format of the keyring request: [1] op key; reply [1] primary count
// key... (internal/wire's uvarint-framed strings).
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
