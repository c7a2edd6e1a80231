package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/acl"
	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// ACLNode is what the doors need of the node's access control (the methods
// of *acl.Service, Node.ACL): resolving a caller's secret, following token
// changes for the sessions, and the ACL service's own calls.
type ACLNode interface {
	// Enabled reports whether ACLs are enforced.
	Enabled() bool
	// Resolve turns a secret ("" for none) into its authorizer, or
	// acl.ErrUnauthenticated.
	Resolve(secret string) (*acl.Authorizer, error)
	// Valid reports whether the token accessor still exists and has not
	// expired.
	Valid(accessor string) bool
	// Expiry is when the token accessor expires (zero: never).
	Expiry(accessor string) time.Time
	// Changed is closed at the next change of the local ACL replica.
	Changed() <-chan struct{}

	Bootstrap(ctx context.Context, resetIndex uint64) (acl.NewToken, error)
	SetPolicy(ctx context.Context, p acl.Policy, create bool) (acl.Policy, error)
	DeletePolicy(ctx context.Context, name string) error
	Policies(ctx context.Context, mode cluster.ReadMode, name string) ([]acl.Policy, error)
	CreateToken(ctx context.Context, description string, policies []string, ttl time.Duration) (acl.NewToken, error)
	DeleteToken(ctx context.Context, accessor string) error
	Tokens(ctx context.Context, mode cluster.ReadMode, accessor string) ([]acl.Token, error)
}

// need is what a call needs: access on a name of a resource. list marks a
// listing: it needs read on something of the resource, and its handler
// returns only the names the token may read.
type need struct {
	res    acl.Resource
	name   string
	access acl.Access
	list   bool
}

func needs(res acl.Resource, name string, access acl.Access) []need {
	return []need{{res: res, name: name, access: access}}
}

func listing(res acl.Resource, prefix string) []need {
	return []need{{res: res, name: prefix, access: acl.Read, list: true}}
}

// Markers for calls with no resource of their own.
var (
	// open calls need no token at all (ACL.Bootstrap: there is none yet).
	open = []need{}
	// authenticated calls need a valid token, whatever its policies
	// (a session, Whoami), unless default_policy is allow.
	authenticated = []need{{}}
)

// methodNeeds is the access every gRPC method needs, by full method name;
// self is the serving node's name. A method missing here is refused while
// ACLs are on (TestEveryMethodHasAnAccessRule keeps it complete). Streams
// whose request arrives after the stream opens (Names.Watch,
// Groups.Monitor, Registry.Watch) are authenticated here and check their request in the
// handler.
var methodNeeds = map[string]func(req any, self string) []need{
	pb.KV_Get_FullMethodName:    func(r any, _ string) []need { return needs(acl.ResKV, r.(*pb.GetRequest).GetKey(), acl.Read) },
	pb.KV_Put_FullMethodName:    func(r any, _ string) []need { return needs(acl.ResKV, r.(*pb.PutRequest).GetKey(), acl.Write) },
	pb.KV_Delete_FullMethodName: func(r any, _ string) []need { return needs(acl.ResKV, r.(*pb.DeleteRequest).GetKey(), acl.Write) },
	pb.KV_List_FullMethodName:   func(r any, _ string) []need { return listing(acl.ResKV, r.(*pb.ListRequest).GetPrefix()) },
	// A watch is authenticated here; its handler checks the listing.
	pb.KV_Watch_FullMethodName: func(any, string) []need { return authenticated },
	// A prefix delete needs write on the prefix here; its handler also
	// checks every rule inside the prefix (checkPrefixDelete).
	pb.KV_DeletePrefix_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResKV, r.(*pb.DeletePrefixRequest).GetPrefix(), acl.Write)
	},
	pb.KV_Txn_FullMethodName: func(r any, _ string) []need { return txnNeeds(r.(*pb.TxnRequest)) },

	pb.Lock_Acquire_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.LockAcquireRequest).GetName(), acl.Write)
	},
	pb.Lock_Release_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.LockReleaseRequest).GetName(), acl.Write)
	},
	pb.Lock_Inspect_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.LockInspectRequest).GetName(), acl.Read)
	},
	pb.Lock_List_FullMethodName: func(r any, _ string) []need { return listing(acl.ResLock, r.(*pb.LockListRequest).GetPrefix()) },
	// Semaphores are in the lock table: resource "lock" on the name.
	pb.Semaphore_Acquire_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.SemAcquireRequest).GetName(), acl.Write)
	},
	pb.Semaphore_Release_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.SemReleaseRequest).GetName(), acl.Write)
	},
	pb.Semaphore_Inspect_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.SemInspectRequest).GetName(), acl.Read)
	},
	pb.Semaphore_List_FullMethodName: func(r any, _ string) []need {
		return listing(acl.ResLock, r.(*pb.SemListRequest).GetPrefix())
	},
	// Elections too: resource "lock" on the election's name. Observe is a
	// stream: authenticated here, its handler checks read on the name.
	pb.Election_Campaign_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.ElectionCampaignRequest).GetName(), acl.Write)
	},
	pb.Election_Proclaim_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.ElectionProclaimRequest).GetName(), acl.Write)
	},
	pb.Election_Resign_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.ElectionResignRequest).GetName(), acl.Write)
	},
	pb.Election_Leader_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResLock, r.(*pb.ElectionLeaderRequest).GetName(), acl.Read)
	},
	pb.Election_Observe_FullMethodName: func(any, string) []need { return authenticated },

	pb.Names_Register_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResName, r.(*pb.NameRegisterRequest).GetName(), acl.Write)
	},
	pb.Names_Unregister_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResName, r.(*pb.NameUnregisterRequest).GetName(), acl.Write)
	},
	pb.Names_Lookup_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResName, r.(*pb.NameLookupRequest).GetName(), acl.Read)
	},
	pb.Names_List_FullMethodName:  func(r any, _ string) []need { return listing(acl.ResName, r.(*pb.NameListRequest).GetPrefix()) },
	pb.Names_Watch_FullMethodName: func(any, string) []need { return authenticated },

	pb.Groups_Join_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResGroup, r.(*pb.GroupJoinRequest).GetGroup(), acl.Write)
	},
	pb.Groups_Leave_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResGroup, r.(*pb.GroupLeaveRequest).GetGroup(), acl.Write)
	},
	pb.Groups_Broadcast_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResGroup, r.(*pb.GroupBroadcastRequest).GetGroup(), acl.Write)
	},
	pb.Groups_Members_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResGroup, r.(*pb.GroupMembersRequest).GetGroup(), acl.Read)
	},
	pb.Groups_Groups_FullMethodName:  func(any, string) []need { return listing(acl.ResGroup, "") },
	pb.Groups_Monitor_FullMethodName: func(any, string) []need { return authenticated },

	pb.Registry_Register_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResService, r.(*pb.RegistryRegisterRequest).GetRegistration().GetService(), acl.Write)
	},
	pb.Registry_Deregister_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResService, r.(*pb.RegistryDeregisterRequest).GetService(), acl.Write)
	},
	pb.Registry_UpdateTTL_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResService, r.(*pb.RegistryUpdateTTLRequest).GetService(), acl.Write)
	},
	// Without a service in the filter, List and Services answer only the
	// services the token may read.
	pb.Registry_List_FullMethodName: func(r any, _ string) []need {
		return serviceReadNeeds(r.(*pb.RegistryListRequest).GetFilter().GetService())
	},
	pb.Registry_Services_FullMethodName: func(any, string) []need { return listing(acl.ResService, "") },
	pb.Registry_Watch_FullMethodName:    func(any, string) []need { return authenticated },

	pb.Session_Connect_FullMethodName: func(any, string) []need { return authenticated },

	pb.Cluster_Members_FullMethodName:    func(any, string) []need { return listing(acl.ResOperator, "") },
	pb.Cluster_RaftStatus_FullMethodName: func(_ any, self string) []need { return needs(acl.ResOperator, self, acl.Read) },
	pb.Cluster_Leave_FullMethodName:      func(_ any, self string) []need { return needs(acl.ResOperator, self, acl.Write) },
	pb.Cluster_Admit_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResOperator, r.(*pb.AdmitRequest).GetNode(), acl.Write)
	},

	pb.Keyring_List_FullMethodName:    func(_ any, self string) []need { return needs(acl.ResOperator, self, acl.Read) },
	pb.Keyring_Install_FullMethodName: func(_ any, self string) []need { return needs(acl.ResOperator, self, acl.Write) },
	pb.Keyring_Use_FullMethodName:     func(_ any, self string) []need { return needs(acl.ResOperator, self, acl.Write) },
	pb.Keyring_Remove_FullMethodName:  func(_ any, self string) []need { return needs(acl.ResOperator, self, acl.Write) },

	pb.Operator_SnapshotSave_FullMethodName:    func(_ any, self string) []need { return needs(acl.ResOperator, self, acl.Write) },
	pb.Operator_SnapshotRestore_FullMethodName: func(_ any, self string) []need { return needs(acl.ResOperator, self, acl.Write) },
	pb.Operator_RemovePeer_FullMethodName: func(r any, _ string) []need {
		return needs(acl.ResOperator, r.(*pb.RemovePeerRequest).GetNode(), acl.Write)
	},

	pb.ACL_Bootstrap_FullMethodName:    func(any, string) []need { return open },
	pb.ACL_Whoami_FullMethodName:       func(any, string) []need { return authenticated },
	pb.ACL_PolicyCreate_FullMethodName: func(any, string) []need { return needs(acl.ResACL, "", acl.Write) },
	pb.ACL_PolicyUpdate_FullMethodName: func(any, string) []need { return needs(acl.ResACL, "", acl.Write) },
	pb.ACL_PolicyDelete_FullMethodName: func(any, string) []need { return needs(acl.ResACL, "", acl.Write) },
	pb.ACL_PolicyRead_FullMethodName:   func(any, string) []need { return needs(acl.ResACL, "", acl.Read) },
	pb.ACL_PolicyList_FullMethodName:   func(any, string) []need { return needs(acl.ResACL, "", acl.Read) },
	pb.ACL_TokenCreate_FullMethodName:  func(any, string) []need { return needs(acl.ResACL, "", acl.Write) },
	pb.ACL_TokenDelete_FullMethodName:  func(any, string) []need { return needs(acl.ResACL, "", acl.Write) },
	pb.ACL_TokenRead_FullMethodName:    func(any, string) []need { return needs(acl.ResACL, "", acl.Read) },
	pb.ACL_TokenList_FullMethodName:    func(any, string) []need { return needs(acl.ResACL, "", acl.Read) },
}

// sessionActs are the calls a session makes as itself, by the request's
// pid: besides the caller's token, the token that opened the session must
// allow them (a session cannot outgrow its token). Releasing or
// unregistering for another pid (an operator's `--pid`) needs only the
// caller's write.
var sessionActs = map[string]func(req any) string{
	pb.Lock_Acquire_FullMethodName:       func(r any) string { return r.(*pb.LockAcquireRequest).GetPid() },
	pb.Semaphore_Acquire_FullMethodName:  func(r any) string { return r.(*pb.SemAcquireRequest).GetPid() },
	pb.Election_Campaign_FullMethodName:  func(r any) string { return r.(*pb.ElectionCampaignRequest).GetPid() },
	pb.Election_Proclaim_FullMethodName:  func(r any) string { return r.(*pb.ElectionProclaimRequest).GetPid() },
	pb.Names_Register_FullMethodName:     func(r any) string { return r.(*pb.NameRegisterRequest).GetPid() },
	pb.Groups_Join_FullMethodName:        func(r any) string { return r.(*pb.GroupJoinRequest).GetPid() },
	pb.Registry_Register_FullMethodName:  func(r any) string { return r.(*pb.RegistryRegisterRequest).GetPid() },
	pb.Registry_UpdateTTL_FullMethodName: func(r any) string { return r.(*pb.RegistryUpdateTTLRequest).GetPid() },
}

type authzKey struct{}

// authzFrom is the caller's authorizer, set by the guard; everything is
// allowed when there is none (no ACL node: the API's own tests).
func authzFrom(ctx context.Context) *acl.Authorizer {
	if a, ok := ctx.Value(authzKey{}).(*acl.Authorizer); ok {
		return a
	}
	return acl.AllowAll()
}

// mayRead reports whether the caller may read name: the filter of every
// listing.
func mayRead(ctx context.Context, res acl.Resource, name string) bool {
	return authzFrom(ctx).Allowed(res, name, acl.Read)
}

// guard is the first thing every request meets: it resolves the caller's
// token, refuses what the token does not allow before the handler runs,
// counts and audits every refusal.
type guard struct {
	acl    ACLNode // nil: no ACLs (everything allowed)
	self   string
	log    zerolog.Logger
	denied *prometheus.CounterVec
	// sessions are the secrets of the sessions open here, by pid.
	sessions sync.Map // pid -> secret
}

func newGuard(node ACLNode, self string, log zerolog.Logger, reg prometheus.Registerer) (*guard, error) {
	g := &guard{acl: node, self: self, log: log, denied: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "conclave", Subsystem: "acl", Name: "denied_total",
		Help: "Requests refused by ACLs (no token, an unknown token, or missing access), by resource.",
	}, []string{"resource"})}
	c, err := register(reg, g.denied)
	if err != nil {
		return nil, err
	}
	g.denied = c.(*prometheus.CounterVec)
	return g, nil
}

func (g *guard) enforcing() bool { return g.acl != nil && g.acl.Enabled() }

// resolve reads the caller's authorizer from a secret.
func (g *guard) resolve(secret string, what string) (*acl.Authorizer, error) {
	if !g.enforcing() {
		return acl.AllowAll(), nil
	}
	a, err := g.acl.Resolve(secret)
	switch {
	case errors.Is(err, acl.ErrUnauthenticated):
		g.refused("token", what, "", "", "", err)
		return nil, status.Error(codes.Unauthenticated, err.Error())
	case err != nil:
		// A client node that cannot reach a server to resolve the token:
		// not the caller's fault, and asking again may work.
		return nil, statusError(err)
	}
	return a, nil
}

// refused counts and audits one refusal.
func (g *guard) refused(resource, what, accessor, name, access string, err error) {
	g.denied.WithLabelValues(resource).Inc()
	g.log.Info().Str("audit", "acl").Bool("allowed", false).Str("accessor", accessorOrAnon(accessor)).
		Str("call", what).Str("resource", resource).Str("name", name).Str("access", access).
		Str("reason", err.Error()).Msg("acl refused")
}

func accessorOrAnon(a string) string {
	if a == "" {
		return "anonymous"
	}
	return a
}

// check refuses a call a lacks access for: Unauthenticated for an
// anonymous caller (a token would be the fix), PermissionDenied naming the
// resource, the name and the access otherwise.
func (g *guard) check(a *acl.Authorizer, what string, ns []need) error {
	if !a.Enforcing() {
		return nil
	}
	for _, n := range ns {
		var ok bool
		switch {
		case n.res == 0: // authenticated
			ok = a.Authenticated()
		case n.list:
			ok = a.Any(n.res, acl.Read)
		default:
			ok = a.Allowed(n.res, n.name, n.access)
		}
		if ok {
			continue
		}
		err := acl.Denied(n.res, n.name, n.access)
		code := codes.PermissionDenied
		switch {
		case n.res == 0:
			code = codes.Unauthenticated
			err = fmt.Errorf("%w: this call needs a token (ACLs are on)", acl.ErrUnauthenticated)
		case a.AccessorID == "":
			// No token at all: a token is the fix, so say that first.
			code = codes.Unauthenticated
			err = fmt.Errorf("%w: no token given and ACLs are on: %s", acl.ErrUnauthenticated,
				strings.TrimPrefix(err.Error(), acl.ErrPermissionDenied.Error()+": "))
		}
		res := n.res.String()
		if n.res == 0 {
			res = "token"
		}
		g.refused(res, what, a.AccessorID, n.name, n.access.String(), err)
		return status.Error(code, err.Error())
	}
	return nil
}

// checkSession refuses a call a session makes as itself when the token
// that opened it (deleted, expired, or without the access) does not allow
// it.
func (g *guard) checkSession(what, pid string, ns []need) error {
	v, ok := g.sessions.Load(pid)
	if !ok || !g.enforcing() {
		return nil
	}
	a, err := g.acl.Resolve(v.(string))
	if err != nil && !errors.Is(err, acl.ErrUnauthenticated) {
		return statusError(err) // a client node that cannot ask a server now
	}
	if err != nil {
		err = fmt.Errorf("%w: the token of session %s is no longer valid", acl.ErrPermissionDenied, pid)
		g.refused("token", what, "", pid, "", err)
		return status.Error(codes.PermissionDenied, err.Error())
	}
	for _, n := range ns {
		if !a.Allowed(n.res, n.name, n.access) {
			err := fmt.Errorf("%w (the token of session %s)", acl.Denied(n.res, n.name, n.access), pid)
			g.refused(n.res.String(), what, a.AccessorID, n.name, n.access.String(), err)
			return status.Error(codes.PermissionDenied, err.Error())
		}
	}
	return nil
}

// secretOf reads the caller's secret from gRPC metadata.
func secretOf(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vs := md.Get("authorization")
	if len(vs) == 0 {
		return "", nil
	}
	s, ok := acl.TokenFromHeader(vs[0])
	if !ok || len(vs) > 1 {
		return "", status.Error(codes.Unauthenticated, "malformed authorization metadata: want one \"Bearer <secret>\"")
	}
	return s, nil
}

// unary authenticates and authorizes every unary call before its handler
// runs.
func (g *guard) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		a, err := g.authorize(ctx, info.FullMethod, req)
		if err != nil {
			return nil, err
		}
		return handler(context.WithValue(ctx, authzKey{}, a), req)
	}
}

func (g *guard) authorize(ctx context.Context, method string, req any) (*acl.Authorizer, error) {
	if !g.enforcing() {
		return acl.AllowAll(), nil
	}
	secret, err := secretOf(ctx)
	if err != nil {
		g.refused("token", method, "", "", "", err)
		return nil, err
	}
	rule, known := methodNeeds[method]
	ns := open
	if known {
		ns = rule(req, g.self)
	}
	if len(ns) == 0 && known {
		// An open call: a token, if any, only names the caller in the
		// audit (a stale one must not block a bootstrap reset).
		if a, err := g.acl.Resolve(secret); err == nil {
			return a, nil
		}
		return acl.NewAuthorizer("", "anonymous", nil, false), nil
	}
	a, err := g.resolve(secret, method)
	if err != nil {
		return nil, err
	}
	if !known {
		err := fmt.Errorf("%w: no access rule for %s", acl.ErrPermissionDenied, method)
		g.refused("method", method, a.AccessorID, "", "", err)
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	if err := g.check(a, method, ns); err != nil {
		return nil, err
	}
	if pidOf, ok := sessionActs[method]; ok {
		if err := g.checkSession(method, pidOf(req), ns); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// authzStream carries the caller's authorizer in the stream's context.
type authzStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authzStream) Context() context.Context { return s.ctx }

// stream authenticates every stream and authorizes what it can before the
// request arrives; handlers check the request (streamCheck).
func (g *guard) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		a, err := g.authorize(ss.Context(), info.FullMethod, nil)
		if err != nil {
			return err
		}
		return handler(srv, &authzStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), authzKey{}, a)})
	}
}

// streamCheck is a stream handler's check of its request.
func (g *guard) streamCheck(ctx context.Context, what string, ns []need) error {
	if g == nil {
		return nil
	}
	return g.check(authzFrom(ctx), what, ns)
}

// httpSecret reads the caller's secret from an HTTP request:
// Authorization: Bearer, or X-Conclave-Token.
func httpSecret(r *http.Request) (string, bool) {
	if v := r.Header.Get("Authorization"); v != "" {
		return acl.TokenFromHeader(v)
	}
	return strings.TrimSpace(r.Header.Get("X-Conclave-Token")), true
}

// http resolves the caller of every HTTP request but health and the
// status page's files (the page itself asks for a token and sends it with
// every call) into the request's context; routes check with need.
func (g *guard) http(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.enforcing() || strings.HasPrefix(r.URL.Path, "/v1/health/") || !strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/metrics" {
			next.ServeHTTP(w, r)
			return
		}
		secret, ok := httpSecret(r)
		if !ok {
			err := status.Error(codes.Unauthenticated, "malformed Authorization header: want \"Bearer <secret>\"")
			g.refused("token", r.Method+" "+r.URL.Path, "", "", "", err)
			failHTTP(w, r, g.log, err)
			return
		}
		a, err := g.resolve(secret, r.Method+" "+r.URL.Path)
		if err != nil {
			failHTTP(w, r, g.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authzKey{}, a)))
	})
}

// route wraps an HTTP handler with the access it needs, read from the
// request by ns.
func (g *guard) route(ns func(r *http.Request) []need, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if g != nil {
			if err := g.check(authzFrom(r.Context()), r.Method+" "+r.URL.Path, ns(r)); err != nil {
				failHTTP(w, r, g.log, err)
				return
			}
		}
		h(w, r)
	}
}

// sessionOpened and sessionClosed track the secret each session here was
// opened with.
func (g *guard) sessionOpened(pid, secret string) { g.sessions.Store(pid, secret) }
func (g *guard) sessionClosed(pid string)         { g.sessions.Delete(pid) }

// errTokenGone ends a session whose token was deleted or expired.
var errTokenGone = errors.New("the session's token was deleted or has expired")
