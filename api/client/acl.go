package client

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// ACL manages policies and tokens (the ACL service; docs/acl.md). Every
// call but Bootstrap needs a token (WithToken) with acl access: read to
// read and list, write to change; Whoami needs only a valid token.
//
// Errors: FailedPrecondition when ACLs are off on the agent, and for a
// second Bootstrap (the message names the index of the bootstrap in
// force); InvalidArgument naming the field (an unknown resource or access,
// an empty prefix, a policy a token names that does not exist); NotFound
// for a policy or token that does not exist; Unauthenticated and
// PermissionDenied as for every call (IsUnauthenticated,
// IsPermissionDenied).
type ACL struct{ c pb.ACLClient }

// ACLRule grants Access (read, write or deny) to the names of Resource
// (kv, lock, name, group, service, operator or acl) that start with
// Prefix; Prefix "*" matches every name. The agent checks the words.
type ACLRule struct {
	Resource string
	Prefix   string
	Access   string
}

// ACLPolicy is a named list of rules.
type ACLPolicy struct {
	Name        string
	Description string
	Rules       []ACLRule
	CreateIndex uint64 // set by the agent
	ModifyIndex uint64 // set by the agent
}

// ACLToken describes a token; its secret is shown only when it is created.
type ACLToken struct {
	AccessorID  string // names the token in reads and deletes; not a credential
	Description string
	Policies    []string
	ExpiresAt   time.Time // zero: never expires
	CreateIndex uint64
}

// ACLCreatedToken is a token just made, with the secret to present
// (WithToken). The secret is not stored by the cluster and cannot be read
// again.
type ACLCreatedToken struct {
	ACLToken
	SecretID string
}

// Bootstrap creates the first management token (policy
// global-management). It needs no token and works once: a second call
// fails FailedPrecondition naming the index of the bootstrap in force.
// resetIndex, when not 0, replaces the bootstrap made at that index (the
// recovery of a lost management token, docs/acl.md).
func (a *ACL) Bootstrap(ctx context.Context, resetIndex uint64) (ACLCreatedToken, error) {
	return createdFromPB(a.c.Bootstrap(ctx, &pb.ACLBootstrapRequest{ResetIndex: resetIndex}))
}

// PolicyCreate creates p (its indexes are ignored) and returns it as
// stored.
func (a *ACL) PolicyCreate(ctx context.Context, p ACLPolicy) (ACLPolicy, error) {
	return policyFromPB(a.c.PolicyCreate(ctx, policyToPB(p)))
}

// PolicyUpdate replaces the description and rules of the existing policy
// p.Name.
func (a *ACL) PolicyUpdate(ctx context.Context, p ACLPolicy) (ACLPolicy, error) {
	return policyFromPB(a.c.PolicyUpdate(ctx, policyToPB(p)))
}

// PolicyRead returns the policy called name.
func (a *ACL) PolicyRead(ctx context.Context, name string) (ACLPolicy, error) {
	return policyFromPB(a.c.PolicyRead(ctx, &pb.ACLPolicyRequest{Name: name}))
}

// PolicyList returns every policy, the built-in global-management
// included.
func (a *ACL) PolicyList(ctx context.Context) ([]ACLPolicy, error) {
	resp, err := a.c.PolicyList(ctx, &pb.ACLListRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]ACLPolicy, 0, len(resp.GetPolicies()))
	for _, p := range resp.GetPolicies() {
		pol, _ := policyFromPB(p, nil)
		out = append(out, pol)
	}
	return out, nil
}

// PolicyDelete deletes the policy called name and takes it off every
// token.
func (a *ACL) PolicyDelete(ctx context.Context, name string) error {
	_, err := a.c.PolicyDelete(ctx, &pb.ACLPolicyRequest{Name: name})
	return err
}

// TokenCreate creates a token with policies; it stops working ttl after
// creation (0: never).
func (a *ACL) TokenCreate(ctx context.Context, description string, policies []string, ttl time.Duration) (ACLCreatedToken, error) {
	req := &pb.ACLTokenCreateRequest{Description: description, Policies: policies}
	if ttl != 0 {
		// A negative ttl goes out as is, for the agent to refuse naming
		// the field.
		req.Ttl = durationpb.New(ttl)
	}
	return createdFromPB(a.c.TokenCreate(ctx, req))
}

// TokenRead returns the token with accessorID.
func (a *ACL) TokenRead(ctx context.Context, accessorID string) (ACLToken, error) {
	resp, err := a.c.TokenRead(ctx, &pb.ACLTokenRequest{AccessorId: accessorID})
	if err != nil {
		return ACLToken{}, err
	}
	return tokenFromPB(resp), nil
}

// TokenList returns every token (without secrets).
func (a *ACL) TokenList(ctx context.Context) ([]ACLToken, error) {
	resp, err := a.c.TokenList(ctx, &pb.ACLListRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]ACLToken, 0, len(resp.GetTokens()))
	for _, t := range resp.GetTokens() {
		out = append(out, tokenFromPB(t))
	}
	return out, nil
}

// TokenDelete deletes the token with accessorID; the sessions opened with
// it end, releasing what they held.
func (a *ACL) TokenDelete(ctx context.Context, accessorID string) error {
	_, err := a.c.TokenDelete(ctx, &pb.ACLTokenRequest{AccessorId: accessorID})
	return err
}

// Whoami describes the token the Client presents.
func (a *ACL) Whoami(ctx context.Context) (ACLToken, error) {
	resp, err := a.c.Whoami(ctx, &pb.ACLWhoamiRequest{})
	if err != nil {
		return ACLToken{}, err
	}
	return tokenFromPB(resp), nil
}

// IsPermissionDenied reports whether err is a PermissionDenied status: the
// token is valid but its policies do not grant the access; the message
// names the resource, the name and the access missing.
func IsPermissionDenied(err error) bool { return status.Code(err) == codes.PermissionDenied }

// IsUnauthenticated reports whether err is an Unauthenticated status: ACLs
// are on and the call presented no token, or one that is unknown,
// malformed or expired.
func IsUnauthenticated(err error) bool { return status.Code(err) == codes.Unauthenticated }

func policyToPB(p ACLPolicy) *pb.ACLPolicy {
	out := &pb.ACLPolicy{Name: p.Name, Description: p.Description}
	for _, r := range p.Rules {
		out.Rules = append(out.Rules, &pb.ACLRule{Resource: r.Resource, Prefix: r.Prefix, Access: r.Access})
	}
	return out
}

func policyFromPB(p *pb.ACLPolicy, err error) (ACLPolicy, error) {
	if err != nil {
		return ACLPolicy{}, err
	}
	out := ACLPolicy{Name: p.GetName(), Description: p.GetDescription(), CreateIndex: p.GetCreateIndex(), ModifyIndex: p.GetModifyIndex()}
	for _, r := range p.GetRules() {
		out.Rules = append(out.Rules, ACLRule{Resource: r.GetResource(), Prefix: r.GetPrefix(), Access: r.GetAccess()})
	}
	return out, nil
}

func tokenFromPB(t *pb.ACLToken) ACLToken {
	return ACLToken{
		AccessorID:  t.GetAccessorId(),
		Description: t.GetDescription(),
		Policies:    t.GetPolicies(),
		ExpiresAt:   timeFromPB(t.GetExpiresAt()),
		CreateIndex: t.GetCreateIndex(),
	}
}

func createdFromPB(c *pb.ACLTokenCreated, err error) (ACLCreatedToken, error) {
	if err != nil {
		return ACLCreatedToken{}, err
	}
	return ACLCreatedToken{ACLToken: tokenFromPB(c.GetToken()), SecretID: c.GetSecretId()}, nil
}
