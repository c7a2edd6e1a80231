package acl

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

func notFound(format string, args ...any) error {
	return wire.Refuse(wire.NotFound, wire.ErrNotFound, format, args...)
}

func refuseInvalid(field, format string, args ...any) error {
	return wire.Refuse(wire.Invalid, wire.ErrInvalid, field+": "+format, args...)
}

// state is the table's deterministic state: no clock, no randomness, no
// map order in anything it returns.
type state struct {
	policies map[string]*Policy
	tokens   map[string]*Token // by accessor ID
	byHash   map[Hash]*Token
	// bootstrapIndex is the Raft index of the last bootstrap (0: never);
	// bootstrapAccessor the token it made.
	bootstrapIndex    uint64
	bootstrapAccessor string
}

func newState() *state {
	return &state{policies: map[string]*Policy{Management: managementPolicy()}, tokens: map[string]*Token{}, byHash: map[Hash]*Token{}}
}

func (s *state) apply(index uint64, c Command) error {
	switch c.op {
	case opBootstrap:
		if s.bootstrapIndex != 0 && c.ResetIndex != s.bootstrapIndex {
			return wire.Refuse(Bootstrapped, ErrBootstrapped,
				"ACLs were bootstrapped at index %d; a reset must name that index", s.bootstrapIndex)
		}
		t := *c.Token
		t.Policies = []string{Management}
		// A reset replaces the bootstrap in force: its token, which was
		// lost (or leaked), stops working, and makes room for the new
		// one on a table at its limit. It may be gone already.
		old, replacing := s.tokens[s.bootstrapAccessor]
		freed := 0
		if replacing {
			freed = 1
		}
		if err := s.addTokenFreeing(index, &t, freed); err != nil {
			return err
		}
		if replacing {
			delete(s.tokens, old.AccessorID)
			delete(s.byHash, old.hash)
		}
		s.bootstrapIndex, s.bootstrapAccessor = index, t.AccessorID
	case opPolicySet:
		p := *c.Policy
		old, ok := s.policies[p.Name]
		switch {
		case p.Name == Management:
			return refuseInvalid("name", "policy %q is built in and cannot be changed", p.Name)
		case c.Create && ok:
			return refuseInvalid("name", "policy %q already exists", p.Name)
		case !c.Create && !ok:
			return notFound("policy %q does not exist", p.Name)
		case c.Create && len(s.policies) >= MaxPolicies:
			return refuseInvalid("name", "the cluster holds %d policies, the limit", MaxPolicies)
		}
		p.Rules = slices.Clone(p.Rules)
		p.CreateIndex, p.ModifyIndex = index, index
		if ok {
			p.CreateIndex = old.CreateIndex
		}
		s.policies[p.Name] = &p
	case opPolicyDelete:
		if c.Name == Management {
			return refuseInvalid("name", "policy %q is built in and cannot be deleted", c.Name)
		}
		if _, ok := s.policies[c.Name]; !ok {
			return notFound("policy %q does not exist", c.Name)
		}
		delete(s.policies, c.Name)
		for _, t := range s.tokens {
			if i := slices.Index(t.Policies, c.Name); i >= 0 {
				nt := *t
				nt.Policies = slices.Delete(slices.Clone(t.Policies), i, i+1)
				s.tokens[nt.AccessorID], s.byHash[nt.hash] = &nt, &nt
			}
		}
	case opTokenCreate:
		t := *c.Token
		for i, p := range t.Policies {
			if _, ok := s.policies[p]; !ok {
				return refuseInvalid(fmt.Sprintf("policies[%d]", i), "policy %q does not exist", p)
			}
		}
		return s.addToken(index, &t)
	case opTokenDelete:
		t, ok := s.tokens[c.Name]
		if !ok {
			return notFound("token %s does not exist", c.Name)
		}
		delete(s.tokens, t.AccessorID)
		delete(s.byHash, t.hash)
	}
	return nil
}

func (s *state) addToken(index uint64, t *Token) error { return s.addTokenFreeing(index, t, 0) }

// addTokenFreeing adds t where the caller will then delete freed tokens
// (a bootstrap reset), which count for no room taken.
func (s *state) addTokenFreeing(index uint64, t *Token, freed int) error {
	switch {
	case s.tokens[t.AccessorID] != nil:
		return refuseInvalid("accessor_id", "token %s already exists", t.AccessorID)
	case s.byHash[t.hash] != nil:
		return refuseInvalid("secret", "a token with this secret already exists")
	case len(s.tokens)-freed >= MaxTokens:
		return refuseInvalid("token", "the cluster holds %d tokens, the limit", MaxTokens)
	}
	t.Policies = slices.Clone(t.Policies)
	t.CreateIndex = index
	s.tokens[t.AccessorID], s.byHash[t.hash] = t, t
	return nil
}

// Replicated is the ACL table as the FSM envelope drives it (cluster.Table)
// and as the service resolves secrets from it. Apply, Snapshot and Restore
// run on Raft's FSM goroutine; Query, Screen, Resolve and Changed
// concurrently from request goroutines.
type Replicated struct {
	mu      sync.RWMutex
	s       *state
	changed chan struct{} // closed and replaced whenever the state changes
}

// NewReplicated returns an empty table (with the built-in policy).
func NewReplicated() *Replicated {
	return &Replicated{s: newState(), changed: make(chan struct{})}
}

// Changed is closed at the next change of the table (a token or policy
// created, changed or deleted, a snapshot restored). Call it again for the
// change after that.
func (r *Replicated) Changed() <-chan struct{} {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.changed
}

func (r *Replicated) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Apply applies a write; a refusal by the table's state is the result, a
// malformed command the error.
func (r *Replicated) Apply(index uint64, op byte, d *wire.Decoder) ([]byte, error) {
	c, err := unmarshal(op, d)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	err = r.s.apply(index, c)
	if err == nil {
		r.notifyLocked()
	}
	// The result carries the token or policy as the table stored it (its
	// indexes are the table's, not the command's).
	var (
		tok *Token
		pol *Policy
	)
	if err == nil {
		switch {
		case c.Token != nil:
			tok = r.s.tokens[c.Token.AccessorID]
		case c.Policy != nil:
			pol = r.s.policies[c.Policy.Name]
		}
	}
	r.mu.Unlock()
	if err != nil {
		return wire.Refusal(err), nil
	}
	res := wire.Result()
	res.Uvarint(index)
	if tok != nil {
		encodeToken(res, tok)
	}
	if pol != nil {
		encodePolicy(res, pol)
	}
	return res.Data(), nil
}

// Screen checks a write as Apply will.
func (r *Replicated) Screen(op byte, d *wire.Decoder) error {
	_, err := unmarshal(op, d)
	return err
}

// Query answers a listing of policies or tokens (one by name or all, in
// name order) or the bootstrap state, from the local replica.
func (r *Replicated) Query(op byte, d *wire.Decoder) ([]byte, error) {
	res := wire.Result()
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch op {
	case queryPolicies:
		name := d.StringMax(MaxPolicyNameLen + 64)
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed acl policy query", wire.ErrInvalid)
		}
		var ps []*Policy
		if name != "" {
			p, ok := r.s.policies[name]
			if !ok {
				return wire.Refusal(notFound("policy %q does not exist", name)), nil
			}
			ps = append(ps, p)
		} else {
			ps = r.sortedPolicies()
		}
		res.Uvarint(uint64(len(ps)))
		for _, p := range ps {
			encodePolicy(res, p)
		}
	case queryTokens:
		id := d.StringMax(64)
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed acl token query", wire.ErrInvalid)
		}
		var ts []*Token
		if id != "" {
			t, ok := r.s.tokens[id]
			if !ok {
				return wire.Refusal(notFound("token %s does not exist", id)), nil
			}
			ts = append(ts, t)
		} else {
			ts = r.sortedTokens()
		}
		res.Uvarint(uint64(len(ts)))
		for _, t := range ts {
			encodeToken(res, t)
		}
	case queryResolve:
		b := d.BytesMax(len(Hash{}))
		if d.Done() != nil || len(b) != len(Hash{}) {
			return nil, fmt.Errorf("%w: malformed acl resolve query", wire.ErrInvalid)
		}
		// No clock here: the asking node judges the expiry.
		tok, found := r.s.byHash[Hash(b)]
		res.Bool(found)
		if found {
			encodeToken(res, tok)
			var rules []Rule
			for _, name := range tok.Policies {
				if p, ok := r.s.policies[name]; ok {
					rules = append(rules, p.Rules...)
				}
			}
			res.Uvarint(uint64(len(rules)))
			for _, rl := range rules {
				res.Byte(byte(rl.Resource))
				res.String(rl.Prefix)
				res.Byte(byte(rl.Access))
			}
		}
	case queryState:
		if d.Done() != nil {
			return nil, fmt.Errorf("%w: malformed acl state query", wire.ErrInvalid)
		}
		res.Uvarint(r.s.bootstrapIndex)
		res.String(r.s.bootstrapAccessor)
	default:
		return nil, fmt.Errorf("%w: unknown acl query %d", wire.ErrInvalid, op)
	}
	return res.Data(), nil
}

func (r *Replicated) sortedPolicies() []*Policy {
	ps := make([]*Policy, 0, len(r.s.policies))
	for _, p := range r.s.policies {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps
}

func (r *Replicated) sortedTokens() []*Token {
	ts := make([]*Token, 0, len(r.s.tokens))
	for _, t := range r.s.tokens {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].AccessorID < ts[j].AccessorID })
	return ts
}

// Resolve finds the token whose secret has hash h and the rules of its
// policies, as this replica holds them. ok is false for no such token or
// an expired one.
func (r *Replicated) Resolve(h Hash, now time.Time) (t Token, rules []Rule, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	tok, found := r.s.byHash[h]
	if !found || tok.Expired(now) {
		return Token{}, nil, false
	}
	for _, name := range tok.Policies {
		if p, ok := r.s.policies[name]; ok {
			rules = append(rules, p.Rules...)
		}
	}
	return *tok, rules, true
}

// Valid reports whether the token accessor exists and has not expired at
// now: a session holding it lives on.
func (r *Replicated) Valid(accessor string, now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.s.tokens[accessor]
	return ok && !t.Expired(now)
}

// expiry is when the token accessor expires (zero: never, or no such
// token).
func (r *Replicated) expiry(accessor string) time.Time {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if t, ok := r.s.tokens[accessor]; ok {
		return t.ExpiresAt
	}
	return time.Time{}
}

// Counts are the numbers of policies (the built-in one included) and
// tokens in the local replica.
func (r *Replicated) Counts() (policies, tokens int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.s.policies), len(r.s.tokens)
}

// Snapshot copies the table (policies and tokens are immutable once
// stored, so the copy is of pointers) and returns the writer of its
// section: the bootstrap index and accessor, then the policies and the
// tokens, each a count and framed records in name order. The built-in
// policy is left out: it is the binary's (a restore, like a replay of the
// log, gets this version's), never state. An untouched table (never
// bootstrapped, no policy or token) has no section.
func (r *Replicated) Snapshot() (func(io.Writer) error, error) {
	r.mu.RLock()
	idx, acc := r.s.bootstrapIndex, r.s.bootstrapAccessor
	ps, ts := r.sortedPolicies(), r.sortedTokens()
	r.mu.RUnlock()
	ps = slices.DeleteFunc(ps, func(p *Policy) bool { return p.Name == Management })
	if idx == 0 && len(ps) == 0 && len(ts) == 0 {
		return nil, nil
	}
	return func(w io.Writer) error {
		head := wire.NewEncoder()
		head.Uvarint(idx)
		head.String(acc)
		if err := wire.WriteFrame(w, head.Data()); err != nil {
			return err
		}
		if err := writeCount(w, len(ps)); err != nil {
			return err
		}
		for _, p := range ps {
			rec := wire.NewEncoder()
			encodePolicy(rec, p)
			if err := wire.WriteFrame(w, rec.Data()); err != nil {
				return err
			}
		}
		if err := writeCount(w, len(ts)); err != nil {
			return err
		}
		for _, t := range ts {
			rec := wire.NewEncoder()
			encodeToken(rec, t)
			if err := wire.WriteFrame(w, rec.Data()); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func writeCount(w io.Writer, n int) error {
	var b [binary.MaxVarintLen64]byte
	_, err := w.Write(b[:binary.PutUvarint(b[:], uint64(n))])
	return err
}

// Restore reads a section written by Snapshot into new state.
func (r *Replicated) Restore(br *bufio.Reader) (func(), error) {
	s := newState()
	if br != nil {
		if err := restoreInto(s, br); err != nil {
			return nil, fmt.Errorf("acl: restore: %w", err)
		}
	}
	return func() {
		r.mu.Lock()
		r.s = s
		r.notifyLocked()
		r.mu.Unlock()
	}, nil
}

func restoreInto(s *state, br *bufio.Reader) error {
	rec, err := wire.ReadFrame(br)
	if err != nil {
		return err
	}
	d := wire.NewDecoder(rec)
	s.bootstrapIndex, s.bootstrapAccessor = d.Uvarint(), d.StringMax(64)
	if err := d.Done(); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		rec, err := wire.ReadFrame(br)
		if err != nil {
			return fmt.Errorf("policy %d: %w", i, err)
		}
		d := wire.NewDecoder(rec)
		p := decodePolicy(d)
		if err := d.Done(); err != nil {
			return fmt.Errorf("policy %d: %w", i, err)
		}
		if p.Name != Management { // the built-in one is newState's
			s.policies[p.Name] = p
		}
	}
	if n, err = binary.ReadUvarint(br); err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		rec, err := wire.ReadFrame(br)
		if err != nil {
			return fmt.Errorf("token %d: %w", i, err)
		}
		d := wire.NewDecoder(rec)
		t := decodeToken(d)
		if err := d.Done(); err != nil {
			return fmt.Errorf("token %d: %w", i, err)
		}
		s.tokens[t.AccessorID], s.byHash[t.hash] = t, t
	}
	return nil
}
