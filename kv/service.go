package kv

import (
	"context"
	"fmt"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Errors of the service. Callers test with errors.Is; api maps them onto
// gRPC codes.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = wire.ErrNotFound
	// ErrVersionMismatch: a compare-and-set or conditional delete saw
	// another version.
	ErrVersionMismatch = wire.ErrMismatch
)

// Proposer is what the service needs of the Raft core: cluster passes one
// over raftcore.Core (forwarding to the leader included).
type Proposer interface {
	// Apply proposes a command and returns the table's result once it is
	// committed and applied; its errors already say why (unavailable,
	// shut down, the caller's context).
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	// Query reads the table in mode and returns the table's answer.
	Query(ctx context.Context, mode wire.ReadMode, q []byte) ([]byte, error)
}

// Service is the KV store's door: it validates a request (for a clear,
// early error; the table checks again at apply), proposes it and decodes
// the answer.
type Service struct {
	p Proposer
	// replica and local serve watches (watch.go); nil: watches poll.
	replica *Replicated
	local   func() bool
}

// NewService returns a service that proposes through p.
func NewService(p Proposer, opts ...ServiceOption) *Service {
	s := &Service{p: p}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Get reads one key in mode. ErrNotFound if absent.
func (s *Service) Get(ctx context.Context, key string, mode wire.ReadMode) (Entry, error) {
	if err := ValidKey("key", key, false); err != nil {
		return Entry{}, err
	}
	es, err := s.query(ctx, mode, getQuery(key))
	if err != nil {
		return Entry{}, fmt.Errorf("get %q: %w", key, err)
	}
	if len(es) != 1 {
		return Entry{}, fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return es[0], nil
}

// List lists the keys with prefix in key order, at most limit (0 = all).
func (s *Service) List(ctx context.Context, prefix string, limit int, mode wire.ReadMode) ([]Entry, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, wire.Invalidf("limit", "must not be negative, got %d", limit)
	}
	es, err := s.query(ctx, mode, listQuery(prefix, limit))
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	return es, nil
}

// Put writes key unconditionally and returns the stored entry.
func (s *Service) Put(ctx context.Context, key string, value []byte) (Entry, error) {
	return s.write(ctx, "put", Put(key, value))
}

// CompareAndSet writes key only if its version is version (0: only if
// absent). ErrVersionMismatch otherwise.
func (s *Service) CompareAndSet(ctx context.Context, key string, value []byte, version uint64) (Entry, error) {
	return s.write(ctx, "compare-and-set", CompareAndSet(key, value, version))
}

// Delete deletes key, only at version when version > 0. ErrNotFound if
// absent.
func (s *Service) Delete(ctx context.Context, key string, version uint64) error {
	_, err := s.write(ctx, "delete", Delete(key, version))
	return err
}

// DeletePrefix deletes every key that starts with prefix, in one entry,
// and returns how many it deleted. An empty prefix and one under the
// reserved prefix are refused: deleting every key takes a prefix per
// top-level name, or a List and deletes.
func (s *Service) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	c := DeletePrefix(prefix)
	if err := c.Validate(); err != nil {
		return 0, err
	}
	d, err := s.apply(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("delete prefix %q: %w", prefix, err)
	}
	n := d.Uvarint()
	if err := d.Done(); err != nil {
		return 0, fmt.Errorf("delete prefix %q: decode result: %w", prefix, err)
	}
	return int(n), nil
}

// Txn applies ops only if every compare holds, all in one entry: every op
// or none. A failed compare is not an error: the result says which one
// failed and the version its key was at. The limits (MaxTxnItems,
// MaxCommandBytes, one op per key) are checked here for an early answer
// and again where the entry is applied.
func (s *Service) Txn(ctx context.Context, compares []Compare, ops []Op) (TxnResult, error) {
	c := Txn(compares, ops)
	if err := c.Validate(); err != nil {
		return TxnResult{}, err
	}
	d, err := s.apply(ctx, c)
	if err != nil {
		return TxnResult{}, fmt.Errorf("txn: %w", err)
	}
	r, err := decodeTxnResult(d)
	if err != nil {
		return TxnResult{}, fmt.Errorf("txn: decode result: %w", err)
	}
	return r, nil
}

// apply proposes a validated command and returns its result's fields.
func (s *Service) apply(ctx context.Context, c Command) (*wire.Decoder, error) {
	resp, err := s.p.Apply(ctx, c.Marshal())
	if err != nil {
		return nil, err
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refused
	}
	return d, nil
}

func (s *Service) write(ctx context.Context, what string, c Command) (Entry, error) {
	if err := c.Validate(); err != nil {
		return Entry{}, err
	}
	resp, err := s.p.Apply(ctx, c.Marshal())
	if err != nil {
		return Entry{}, fmt.Errorf("%s %q: %w", what, c.Key, err)
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return Entry{}, fmt.Errorf("%s %q: %w", what, c.Key, refused)
	}
	e := decodeEntry(d)
	if err := d.Done(); err != nil {
		return Entry{}, fmt.Errorf("%s %q: decode result: %w", what, c.Key, err)
	}
	return *e, nil
}

func (s *Service) query(ctx context.Context, mode wire.ReadMode, q []byte) ([]Entry, error) {
	resp, err := s.p.Query(ctx, mode, q)
	if err != nil {
		return nil, err
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refused
	}
	es, err := decodeEntries(d)
	if err != nil {
		return nil, fmt.Errorf("decode query result: %w", err)
	}
	return es, nil
}
