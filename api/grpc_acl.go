package api

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// aclService implements conclave.v1.ACL. The guard has checked the
// caller's access before any method runs; every change is audited here,
// on the node that took it.
type aclService struct {
	pb.UnimplementedACLServer
	node ACLNode
	log  zerolog.Logger
}

// aclStatus maps the ACL service's own errors, then the rest as usual.
func aclStatus(err error) error {
	switch {
	case errors.Is(err, acl.ErrBootstrapped), errors.Is(err, acl.ErrDisabled):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, acl.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, acl.ErrPermissionDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	}
	return statusError(err)
}

// audit logs an ACL change made for the caller in ctx.
func (s *aclService) audit(ctx context.Context, what, subject string, err error) {
	ev := s.log.Info()
	if err != nil {
		ev = s.log.Debug()
	}
	ev.Str("audit", "acl").Str("accessor", accessorOrAnon(authzFrom(ctx).AccessorID)).
		Str("change", what).Str("subject", subject).Bool("done", err == nil).Msg("acl change")
}

func (s *aclService) enabled() error {
	if !s.node.Enabled() {
		return status.Error(codes.FailedPrecondition, "ACLs are disabled on this node: set acl.enabled: true on every server")
	}
	return nil
}

func (s *aclService) Bootstrap(ctx context.Context, req *pb.ACLBootstrapRequest) (*pb.ACLTokenCreated, error) {
	nt, err := s.node.Bootstrap(ctx, req.GetResetIndex())
	s.audit(ctx, "bootstrap", nt.AccessorID, err)
	if err != nil {
		return nil, aclStatus(err)
	}
	s.settle(ctx, nt)
	return &pb.ACLTokenCreated{Token: tokenToPB(nt.Token), SecretId: nt.SecretID}, nil
}

// settleTimeout bounds how long a token's creation waits for this node's
// replica to know the token.
const settleTimeout = 5 * time.Second

// settle waits until this node resolves the token just made. The write
// returns once the leader has applied it, and a follower applies it a
// moment later: without the wait, a caller that uses its new token at once
// on the node that made it (`conclave acl bootstrap`, then the next
// command) could be refused Unauthenticated. Past the bound, ctx or the
// token's expiry it returns anyway: the token exists and resolves soon.
func (s *aclService) settle(ctx context.Context, nt acl.NewToken) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	for {
		changed := s.node.Changed()
		if _, err := s.node.Resolve(nt.SecretID); err == nil {
			return
		}
		if !nt.ExpiresAt.IsZero() && !time.Now().Before(nt.ExpiresAt) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

func (s *aclService) PolicyCreate(ctx context.Context, req *pb.ACLPolicy) (*pb.ACLPolicy, error) {
	return s.setPolicy(ctx, req, true)
}

func (s *aclService) PolicyUpdate(ctx context.Context, req *pb.ACLPolicy) (*pb.ACLPolicy, error) {
	return s.setPolicy(ctx, req, false)
}

func (s *aclService) setPolicy(ctx context.Context, req *pb.ACLPolicy, create bool) (*pb.ACLPolicy, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	p, err := policyFromPB(req)
	if err != nil {
		return nil, err
	}
	p, err = s.node.SetPolicy(ctx, p, create)
	what := "policy update"
	if create {
		what = "policy create"
	}
	s.audit(ctx, what, req.GetName(), err)
	if err != nil {
		return nil, aclStatus(err)
	}
	return policyToPB(p), nil
}

func (s *aclService) PolicyRead(ctx context.Context, req *pb.ACLPolicyRequest) (*pb.ACLPolicy, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	if req.GetName() == "" {
		return nil, invalidArgument("name", "must not be empty")
	}
	ps, err := s.node.Policies(ctx, cluster.ReadDefault, req.GetName())
	if err != nil {
		return nil, aclStatus(err)
	}
	if len(ps) != 1 {
		return nil, status.Errorf(codes.NotFound, "policy %q does not exist", req.GetName())
	}
	return policyToPB(ps[0]), nil
}

func (s *aclService) PolicyList(ctx context.Context, _ *pb.ACLListRequest) (*pb.ACLPolicies, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	ps, err := s.node.Policies(ctx, cluster.ReadDefault, "")
	if err != nil {
		return nil, aclStatus(err)
	}
	out := &pb.ACLPolicies{Policies: make([]*pb.ACLPolicy, 0, len(ps))}
	for _, p := range ps {
		out.Policies = append(out.Policies, policyToPB(p))
	}
	return out, nil
}

func (s *aclService) PolicyDelete(ctx context.Context, req *pb.ACLPolicyRequest) (*pb.ACLDeleted, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	err := s.node.DeletePolicy(ctx, req.GetName())
	s.audit(ctx, "policy delete", req.GetName(), err)
	if err != nil {
		return nil, aclStatus(err)
	}
	return &pb.ACLDeleted{}, nil
}

func (s *aclService) TokenCreate(ctx context.Context, req *pb.ACLTokenCreateRequest) (*pb.ACLTokenCreated, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	ttl, err := durationField("ttl", req.GetTtl())
	if err != nil {
		return nil, err
	}
	nt, err := s.node.CreateToken(ctx, req.GetDescription(), req.GetPolicies(), ttl)
	s.audit(ctx, "token create", nt.AccessorID, err)
	if err != nil {
		return nil, aclStatus(err)
	}
	s.settle(ctx, nt)
	return &pb.ACLTokenCreated{Token: tokenToPB(nt.Token), SecretId: nt.SecretID}, nil
}

func (s *aclService) TokenRead(ctx context.Context, req *pb.ACLTokenRequest) (*pb.ACLToken, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	if req.GetAccessorId() == "" {
		return nil, invalidArgument("accessor_id", "must not be empty")
	}
	ts, err := s.node.Tokens(ctx, cluster.ReadDefault, req.GetAccessorId())
	if err != nil {
		return nil, aclStatus(err)
	}
	if len(ts) != 1 {
		return nil, status.Errorf(codes.NotFound, "token %s does not exist", req.GetAccessorId())
	}
	return tokenToPB(ts[0]), nil
}

func (s *aclService) TokenList(ctx context.Context, _ *pb.ACLListRequest) (*pb.ACLTokens, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	ts, err := s.node.Tokens(ctx, cluster.ReadDefault, "")
	if err != nil {
		return nil, aclStatus(err)
	}
	out := &pb.ACLTokens{Tokens: make([]*pb.ACLToken, 0, len(ts))}
	for _, t := range ts {
		out.Tokens = append(out.Tokens, tokenToPB(t))
	}
	return out, nil
}

func (s *aclService) TokenDelete(ctx context.Context, req *pb.ACLTokenRequest) (*pb.ACLDeleted, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	err := s.node.DeleteToken(ctx, req.GetAccessorId())
	s.audit(ctx, "token delete", req.GetAccessorId(), err)
	if err != nil {
		return nil, aclStatus(err)
	}
	return &pb.ACLDeleted{}, nil
}

// Whoami describes the caller's token from the local replica.
func (s *aclService) Whoami(ctx context.Context, _ *pb.ACLWhoamiRequest) (*pb.ACLToken, error) {
	if err := s.enabled(); err != nil {
		return nil, err
	}
	a := authzFrom(ctx)
	if a.AccessorID == "" {
		return &pb.ACLToken{Description: a.Description}, nil
	}
	ts, err := s.node.Tokens(ctx, cluster.ReadStale, a.AccessorID)
	if err != nil || len(ts) != 1 {
		return &pb.ACLToken{AccessorId: a.AccessorID, Description: a.Description}, nil
	}
	return tokenToPB(ts[0]), nil
}

func policyFromPB(p *pb.ACLPolicy) (acl.Policy, error) {
	out := acl.Policy{Name: p.GetName(), Description: p.GetDescription()}
	for i, r := range p.GetRules() {
		res, err := acl.ParseResource(r.GetResource())
		if err != nil {
			return acl.Policy{}, invalidArgument(fieldIndex("rules", i)+".resource", "%v", err)
		}
		access, err := acl.ParseAccess(r.GetAccess())
		if err != nil {
			return acl.Policy{}, invalidArgument(fieldIndex("rules", i)+".access", "%v", err)
		}
		out.Rules = append(out.Rules, acl.Rule{Resource: res, Prefix: r.GetPrefix(), Access: access})
	}
	return out, nil
}

func fieldIndex(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

func policyToPB(p acl.Policy) *pb.ACLPolicy {
	out := &pb.ACLPolicy{Name: p.Name, Description: p.Description, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
	for _, r := range p.Rules {
		out.Rules = append(out.Rules, &pb.ACLRule{Resource: r.Resource.String(), Prefix: r.Prefix, Access: r.Access.String()})
	}
	return out
}

func tokenToPB(t acl.Token) *pb.ACLToken {
	out := &pb.ACLToken{AccessorId: t.AccessorID, Description: t.Description, Policies: t.Policies, CreateIndex: t.CreateIndex}
	if !t.ExpiresAt.IsZero() {
		out.ExpiresAt = timestamppb.New(t.ExpiresAt)
	}
	return out
}
