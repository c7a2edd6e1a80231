package acl

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// Errors of the service and of the doors that ask it. Callers test with
// errors.Is; api maps them onto gRPC codes (DESIGN §13).
var (
	// ErrBootstrapped: bootstrap was asked for again (FailedPrecondition).
	ErrBootstrapped = errors.New("acl already bootstrapped")
	// ErrUnauthenticated: the secret is malformed, unknown or expired
	// (Unauthenticated). Its message never says which.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the token lacks the access (PermissionDenied).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrDisabled: an ACL call on a cluster whose ACLs are off
	// (FailedPrecondition).
	ErrDisabled = errors.New("acls are disabled")
)

// Denied is the refusal of access on a resource's name. It names the
// resource, the name and the access missing, never which tokens exist.
func Denied(res Resource, name string, want Access) error {
	if name == "" {
		return fmt.Errorf("%w: %s %s needs %s access", ErrPermissionDenied, res, "(any)", want)
	}
	return fmt.Errorf("%w: %s %q needs %s access", ErrPermissionDenied, res, name, want)
}

// Proposer is what the service needs of the Raft core: cluster passes one
// over raftcore.Core (forwarding to the leader included).
type Proposer interface {
	// Apply proposes a command and returns the table's result once it is
	// committed and applied.
	Apply(ctx context.Context, cmd []byte) ([]byte, error)
	// Query reads the table in mode and returns the table's answer.
	Query(ctx context.Context, mode wire.ReadMode, q []byte) ([]byte, error)
}

// Config is the cluster's ACL setting (config's acl section).
type Config struct {
	// Enabled turns enforcement on: every request needs a token that
	// grants what it does.
	Enabled bool
	// DefaultAllow decides names no rule of the token matches (default
	// policy allow); false denies them (deny, the default).
	DefaultAllow bool
	// Replica reports whether this node holds a replica of the ACL table
	// (it is in the Raft configuration). A node that does not (a client)
	// asks a server and keeps the answer for CacheTTL. nil: always.
	Replica func() bool
	// CacheTTL is how long a client node trusts a resolved token (5 s
	// when 0): a policy change or token deletion reaches it within that.
	CacheTTL time.Duration
	// ResetFile is where an operator with shell access to this node
	// writes the bootstrap index to allow a bootstrap reset through it
	// (recovery of a lost management token); "" allows none.
	ResetFile string
}

// Service creates, lists and deletes policies and tokens through Raft and
// resolves secrets from the local replica.
type Service struct {
	cfg Config
	p   Proposer
	t   *Replicated
	now func() time.Time

	mu    sync.Mutex
	cache map[Hash]cached // a client node's resolved tokens
}

// NewService returns the service over the table t (registered in the FSM),
// proposing through p; now is the clock tokens expire by.
func NewService(cfg Config, p Proposer, t *Replicated, now func() time.Time) *Service {
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	return &Service{cfg: cfg, p: p, t: t, now: now, cache: map[Hash]cached{}}
}

// replica reports whether the local table is this node's to read.
func (s *Service) replica() bool { return s.cfg.Replica == nil || s.cfg.Replica() }

// Enabled reports whether ACLs are enforced.
func (s *Service) Enabled() bool { return s.cfg.Enabled }

// Resolve turns a request's secret into its authorizer. With ACLs off
// every caller may do everything. An empty secret is the anonymous
// caller, who gets only the default policy; a malformed, unknown or
// expired one is ErrUnauthenticated.
func (s *Service) Resolve(secret string) (*Authorizer, error) {
	if !s.cfg.Enabled {
		return AllowAll(), nil
	}
	if secret == "" {
		return NewAuthorizer("", "anonymous", nil, s.cfg.DefaultAllow), nil
	}
	if !isUUID(secret) {
		return nil, fmt.Errorf("%w: the token is not a conclave secret (a UUID)", ErrUnauthenticated)
	}
	t, rules, ok, err := s.lookup(HashSecret(secret))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: the token is unknown or has expired", ErrUnauthenticated)
	}
	return NewAuthorizer(t.AccessorID, t.Description, rules, s.cfg.DefaultAllow), nil
}

// Valid reports whether the token accessor still exists and has not
// expired: a session opened with it ends when it does not. With ACLs off,
// or for the anonymous caller (""), it is always true.
func (s *Service) Valid(accessor string) bool {
	if !s.cfg.Enabled || accessor == "" {
		return true
	}
	if s.replica() {
		return s.t.Valid(accessor, s.now())
	}
	// A client node knows the tokens it resolved: ask again through a
	// server once the cached answer is stale. A server it cannot reach
	// ends no session.
	h, ok := s.cachedHash(accessor)
	if !ok {
		return true
	}
	_, _, found, err := s.lookup(h)
	return found || err != nil
}

// Expiry is when the token accessor expires (zero: never, or no such
// token).
func (s *Service) Expiry(accessor string) time.Time {
	if !s.replica() {
		if h, ok := s.cachedHash(accessor); ok {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.cache[h].t.ExpiresAt
		}
		return time.Time{}
	}
	return s.t.expiry(accessor)
}

// Changed is closed at the next change of the local replica's ACLs; on a
// client node, which holds none, after CacheTTL (its answers may have
// changed by then).
func (s *Service) Changed() <-chan struct{} {
	if s.replica() {
		return s.t.Changed()
	}
	ch := make(chan struct{})
	time.AfterFunc(s.cfg.CacheTTL, func() { close(ch) })
	return ch
}

// NewToken is a token just made: its secret is shown once and never
// stored.
type NewToken struct {
	Token
	SecretID string
}

// Bootstrap creates the first management token (policy Management). A
// second call fails with ErrBootstrapped naming the bootstrap in force;
// resetIndex, the index that error names, replaces it and revokes its
// token (recovery of a lost or leaked management token: see docs/acl.md).
func (s *Service) Bootstrap(ctx context.Context, resetIndex uint64) (NewToken, error) {
	if !s.cfg.Enabled {
		return NewToken{}, fmt.Errorf("bootstrap: %w: set acl.enabled: true on every server first", ErrDisabled)
	}
	if resetIndex != 0 {
		if err := s.checkResetFile(resetIndex); err != nil {
			return NewToken{}, err
		}
	}
	nt, err := newToken("bootstrap token (global management)", nil, 0, s.now())
	if err != nil {
		return NewToken{}, err
	}
	nt, err = s.writeToken(ctx, "bootstrap", BootstrapCommand(&nt.Token, resetIndex), nt)
	if err == nil && resetIndex != 0 {
		// One reset per file: a second needs the operator again.
		_ = os.Remove(s.cfg.ResetFile)
	}
	return nt, err
}

// checkResetFile allows a bootstrap reset only when the operator has
// written its index into this node's reset file: proof of shell access to
// a server, which a lost token cannot give.
func (s *Service) checkResetFile(index uint64) error {
	if s.cfg.ResetFile == "" {
		return fmt.Errorf("bootstrap reset: %w: this node allows no reset", ErrBootstrapped)
	}
	b, err := os.ReadFile(s.cfg.ResetFile)
	if err != nil {
		return fmt.Errorf("bootstrap reset: %w: write %d into %s on this node first (%v)", ErrBootstrapped, index, s.cfg.ResetFile, errors.Unwrap(err))
	}
	got, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || got != index {
		return fmt.Errorf("bootstrap reset: %w: %s holds %q, not the index %d", ErrBootstrapped, s.cfg.ResetFile, strings.TrimSpace(string(b)), index)
	}
	return nil
}

// CreateToken creates a token with policies that expires after ttl (0:
// never).
func (s *Service) CreateToken(ctx context.Context, description string, policies []string, ttl time.Duration) (NewToken, error) {
	now := s.now()
	switch {
	case ttl < 0:
		return NewToken{}, wire.Invalidf("ttl", "must not be negative, got %s", ttl)
	case ttl > 0 && wire.TimeNanos(now.Add(ttl)) == 0:
		// Past 2262 the expiry does not fit the table's encoding, which
		// would store it as never: refuse rather than make a token that
		// outlives what was asked.
		return NewToken{}, wire.Invalidf("ttl", "%s ends after the latest expiry the cluster can hold (2262); give 0 for a token that never expires", ttl)
	}
	nt, err := newToken(description, policies, ttl, now)
	if err != nil {
		return NewToken{}, err
	}
	return s.writeToken(ctx, "create token", TokenCreate(&nt.Token), nt)
}

func (s *Service) writeToken(ctx context.Context, what string, c Command, nt NewToken) (NewToken, error) {
	if err := c.Validate(); err != nil {
		return NewToken{}, err
	}
	d, err := s.write(ctx, what, c)
	if err != nil {
		return NewToken{}, err
	}
	t := decodeToken(d)
	if err := d.Done(); err != nil {
		return NewToken{}, fmt.Errorf("%s: decode result: %w", what, err)
	}
	return NewToken{Token: *t, SecretID: nt.SecretID}, nil
}

func newToken(description string, policies []string, ttl time.Duration, now time.Time) (NewToken, error) {
	acc, err := uuid()
	if err != nil {
		return NewToken{}, err
	}
	secret, err := uuid()
	if err != nil {
		return NewToken{}, err
	}
	t := Token{AccessorID: acc, Description: description, Policies: policies, hash: HashSecret(secret)}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl).UTC()
	}
	return NewToken{Token: t, SecretID: secret}, nil
}

// uuid is a random (version 4) UUID.
func uuid() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("acl: random: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// DeleteToken deletes a token; sessions opened with it end.
func (s *Service) DeleteToken(ctx context.Context, accessor string) error {
	c := TokenDelete(accessor)
	if err := c.Validate(); err != nil {
		return err
	}
	_, err := s.write(ctx, "delete token", c)
	return err
}

// SetPolicy creates a policy (create) or replaces the rules and
// description of an existing one; every token that carries it has the new
// rules as soon as a node applies the change. It returns the policy as the
// table stored it (its create and modify indexes the table's).
func (s *Service) SetPolicy(ctx context.Context, p Policy, create bool) (Policy, error) {
	c := PolicySet(&p, create)
	if err := c.Validate(); err != nil {
		return Policy{}, err
	}
	what := "update policy"
	if create {
		what = "create policy"
	}
	d, err := s.write(ctx, what, c)
	if err != nil {
		return Policy{}, err
	}
	stored := decodePolicy(d)
	if err := d.Done(); err != nil {
		return Policy{}, fmt.Errorf("%s: decode result: %w", what, err)
	}
	return *stored, nil
}

// DeletePolicy deletes a policy and takes it off every token.
func (s *Service) DeletePolicy(ctx context.Context, name string) error {
	c := PolicyDelete(name)
	if err := c.Validate(); err != nil {
		return err
	}
	_, err := s.write(ctx, "delete policy", c)
	return err
}

// write proposes c and returns the result's fields after the index.
func (s *Service) write(ctx context.Context, what string, c Command) (*wire.Decoder, error) {
	resp, err := s.p.Apply(ctx, c.Marshal())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		if refused.Code == Bootstrapped {
			refused.Err = ErrBootstrapped
		}
		return nil, fmt.Errorf("%s: %w", what, refused)
	}
	d.Uvarint() // the index; a created token or policy carries its own
	return d, nil
}

// Policies lists the policies (name "" for all, in name order), or the one
// named; ErrNotFound when it does not exist.
func (s *Service) Policies(ctx context.Context, mode wire.ReadMode, name string) ([]Policy, error) {
	if name != "" {
		if err := ValidatePolicyName("name", name); err != nil {
			return nil, err
		}
	}
	d, err := s.query(ctx, mode, policiesQuery(name))
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	n := d.Count(5)
	out := make([]Policy, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out = append(out, *decodePolicy(d))
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("read policies: decode: %w", err)
	}
	return out, nil
}

// Tokens lists the tokens (accessor "" for all, by accessor ID), or the
// one named; never their secrets.
func (s *Service) Tokens(ctx context.Context, mode wire.ReadMode, accessor string) ([]Token, error) {
	if accessor != "" {
		if err := ValidateAccessor("accessor_id", accessor); err != nil {
			return nil, err
		}
	}
	return s.tokens(ctx, mode, accessor)
}

func (s *Service) tokens(ctx context.Context, mode wire.ReadMode, accessor string) ([]Token, error) {
	d, err := s.query(ctx, mode, tokensQuery(accessor))
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	n := d.Count(36)
	out := make([]Token, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out = append(out, *decodeToken(d))
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("read tokens: decode: %w", err)
	}
	return out, nil
}

func (s *Service) query(ctx context.Context, mode wire.ReadMode, q []byte) (*wire.Decoder, error) {
	resp, err := s.p.Query(ctx, mode, q)
	if err != nil {
		return nil, err
	}
	d, refused := wire.ParseResult(resp)
	if refused != nil {
		return nil, refused
	}
	return d, nil
}

// TokenFromHeader reads a secret from an HTTP Authorization value
// ("Bearer <secret>"); "" for an empty value. ok is false for any other
// scheme or shape.
func TokenFromHeader(v string) (secret string, ok bool) {
	if v == "" {
		return "", true
	}
	scheme, rest, found := strings.Cut(v, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	return rest, rest != ""
}
