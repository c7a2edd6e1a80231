package acl

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// TableID is the ACL table's number in the command envelope. Ops and
// queries are append-only numbers: never renumber.
const TableID = 5

const (
	opBootstrap    = 1 // token resetIndex
	opPolicySet    = 2 // create policy
	opPolicyDelete = 3 // name
	opTokenCreate  = 4 // token
	opTokenDelete  = 5 // accessor

	queryPolicies = 1 // name ("" = all)
	queryTokens   = 2 // accessor ("" = all)
	queryState    = 3 // bootstrap index
	queryResolve  = 4 // secret hash: the token and its policies' rules (client nodes ask a server)
)

// Bootstrapped is the table's refusal of a second bootstrap; it crosses
// Raft as this code and matches ErrBootstrapped.
const Bootstrapped wire.Code = 10

// Hash is what the table keeps of a secret.
type Hash [sha256.Size]byte

// HashSecret is the hash of a token's secret.
func HashSecret(secret string) Hash { return sha256.Sum256([]byte(secret)) }

// Token is a token as the table holds it: never its secret.
type Token struct {
	AccessorID  string
	Description string
	Policies    []string
	// ExpiresAt is when the token stops working; zero never.
	ExpiresAt   time.Time
	CreateIndex uint64
	hash        Hash
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// Command is one decoded ACL write.
type Command struct {
	op         byte
	Policy     *Policy
	Create     bool // opPolicySet: only if absent (else only if present)
	Token      *Token
	Name       string // opPolicyDelete
	ResetIndex uint64 // opBootstrap: the index of the bootstrap it replaces (recovery)
}

// BootstrapCommand creates the first management token; resetIndex 0 on a
// fresh cluster, the current bootstrap index to replace a lost one.
func BootstrapCommand(t *Token, resetIndex uint64) Command {
	return Command{op: opBootstrap, Token: t, ResetIndex: resetIndex}
}

// PolicySet creates a policy (create) or replaces an existing one.
func PolicySet(p *Policy, create bool) Command {
	return Command{op: opPolicySet, Policy: p, Create: create}
}

// PolicyDelete deletes a policy and takes it off every token.
func PolicyDelete(name string) Command { return Command{op: opPolicyDelete, Name: name} }

// TokenCreate creates a token.
func TokenCreate(t *Token) Command { return Command{op: opTokenCreate, Token: t} }

// TokenDelete deletes a token by its accessor ID.
func TokenDelete(accessor string) Command { return Command{op: opTokenDelete, Name: accessor} }

// Marshal is the command as the envelope carries it.
func (c Command) Marshal() []byte {
	e := wire.Command(TableID, c.op)
	switch c.op {
	case opBootstrap:
		encodeToken(e, c.Token)
		e.Uvarint(c.ResetIndex)
	case opPolicySet:
		e.Bool(c.Create)
		encodePolicy(e, c.Policy)
	case opPolicyDelete, opTokenDelete:
		e.String(c.Name)
	case opTokenCreate:
		encodeToken(e, c.Token)
	}
	return e.Data()
}

// Validate checks the command against the table's rules (not its state).
func (c Command) Validate() error {
	switch c.op {
	case opBootstrap, opTokenCreate:
		return c.Token.validate()
	case opPolicySet:
		return c.Policy.Validate()
	case opPolicyDelete:
		return ValidatePolicyName("name", c.Name)
	case opTokenDelete:
		return ValidateAccessor("accessor_id", c.Name)
	}
	return wire.Invalidf("op", "unknown acl op %d", c.op)
}

// unmarshal reads op's fields and checks them: the one decoding Apply and
// the leader's screen share.
func unmarshal(op byte, d *wire.Decoder) (Command, error) {
	c := Command{op: op}
	switch op {
	case opBootstrap:
		c.Token = decodeToken(d)
		c.ResetIndex = d.Uvarint()
	case opPolicySet:
		c.Create = d.Bool()
		c.Policy = decodePolicy(d)
	case opPolicyDelete, opTokenDelete:
		c.Name = d.StringMax(MaxPolicyNameLen + 64)
	case opTokenCreate:
		c.Token = decodeToken(d)
	default:
		return c, wire.Invalidf("op", "unknown acl op %d", op)
	}
	if err := d.Done(); err != nil {
		return c, fmt.Errorf("%w: malformed acl command: %w", wire.ErrInvalid, err)
	}
	return c, c.Validate()
}

// ValidateAccessor checks an accessor ID (a UUID); the error names field.
func ValidateAccessor(field, id string) error {
	if !isUUID(id) {
		return wire.Invalidf(field, "%q is not an accessor ID (a UUID like 5f0c2a4e-...)", id)
	}
	return nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
				return false
			}
		}
	}
	return true
}

func (t *Token) validate() error {
	if t == nil {
		return wire.Invalidf("token", "missing")
	}
	if err := ValidateAccessor("accessor_id", t.AccessorID); err != nil {
		return err
	}
	if err := validDescription(t.Description); err != nil {
		return err
	}
	if len(t.Policies) > MaxTokenPolicies {
		return wire.Invalidf("policies", "%d policies, the limit is %d", len(t.Policies), MaxTokenPolicies)
	}
	seen := map[string]bool{}
	for i, p := range t.Policies {
		if err := ValidatePolicyName(fmt.Sprintf("policies[%d]", i), p); err != nil {
			return err
		}
		if seen[p] {
			return wire.Invalidf(fmt.Sprintf("policies[%d]", i), "%q is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

func encodePolicy(e *wire.Encoder, p *Policy) {
	e.String(p.Name)
	e.String(p.Description)
	e.Uvarint(uint64(len(p.Rules)))
	for _, r := range p.Rules {
		e.Byte(byte(r.Resource))
		e.String(r.Prefix)
		e.Byte(byte(r.Access))
	}
	e.Uvarint(p.CreateIndex)
	e.Uvarint(p.ModifyIndex)
}

func decodePolicy(d *wire.Decoder) *Policy {
	p := &Policy{Name: d.StringMax(MaxPolicyNameLen + 64), Description: d.StringMax(MaxDescriptionLen + 64)}
	n := d.Count(3)
	for i := 0; i < n && d.Err() == nil; i++ {
		p.Rules = append(p.Rules, Rule{Resource: Resource(d.Byte()), Prefix: d.StringMax(MaxPrefixLen + 64), Access: Access(d.Byte())})
	}
	p.CreateIndex, p.ModifyIndex = d.Uvarint(), d.Uvarint()
	return p
}

func encodeToken(e *wire.Encoder, t *Token) {
	e.String(t.AccessorID)
	e.Bytes(t.hash[:])
	e.String(t.Description)
	e.Uvarint(uint64(len(t.Policies)))
	for _, p := range t.Policies {
		e.String(p)
	}
	e.Time(t.ExpiresAt)
	e.Uvarint(t.CreateIndex)
}

func decodeToken(d *wire.Decoder) *Token {
	t := &Token{AccessorID: d.StringMax(64)}
	h := d.BytesMax(len(t.hash))
	if d.Err() == nil && len(h) != len(t.hash) {
		d.Fail("secret hash of the wrong size")
	}
	copy(t.hash[:], h)
	t.Description = d.StringMax(MaxDescriptionLen + 64)
	n := d.Count(1)
	for i := 0; i < n && d.Err() == nil; i++ {
		t.Policies = append(t.Policies, d.StringMax(MaxPolicyNameLen+64))
	}
	t.ExpiresAt = d.Time()
	t.CreateIndex = d.Uvarint()
	return t
}

func resolveQuery(h Hash) []byte {
	q := wire.Command(TableID, queryResolve)
	q.Bytes(h[:])
	return q.Data()
}

func policiesQuery(name string) []byte {
	q := wire.Command(TableID, queryPolicies)
	q.String(name)
	return q.Data()
}

func tokensQuery(accessor string) []byte {
	q := wire.Command(TableID, queryTokens)
	q.String(accessor)
	return q.Data()
}
