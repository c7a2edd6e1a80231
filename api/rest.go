package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/cluster"
)

// rest serves the JSON API on the HTTP port (docs/rest.md): the same data
// as the gRPC services, for curl, scripts and the status page. Handlers
// run concurrently, one goroutine per request, and call the services like
// the gRPC services do; errors carry the gRPC code name and a matching
// HTTP status. A nil service has no endpoints.
type rest struct {
	cluster   ClusterNode
	kv        KVNode
	ekv       EventualKVNode // nil: ?store=eventual is refused
	locks     LockNode
	sems      SemaphoreNode
	elections ElectionNode
	names     NameNode
	groups    GroupNode
	registry  RegistryNode
	log       zerolog.Logger
	maxBody   int64
	guard     *guard
}

// routes registers the endpoints of every service there is on mux (names
// and groups from their own files), and the REST-shaped NotFound for
// every other /v1/ path, which the status page shows as "not available".
func (h *rest) routes(mux *http.ServeMux) {
	g, self := h.guard, h.cluster.Name()
	operatorList := func(*http.Request) []need { return listing(acl.ResOperator, "") }
	mux.HandleFunc("GET /v1/members", g.route(operatorList, h.members))
	mux.HandleFunc("GET /v1/raft", g.route(func(*http.Request) []need { return needs(acl.ResOperator, self, acl.Read) }, h.raft))
	// ?service=NAME lists a registered service's passing instances
	// instead of the agents (rest_registry.go).
	sdNeeds := func(r *http.Request) []need {
		if r.URL.Query().Has("service") {
			return needs(acl.ResService, r.URL.Query().Get("service"), acl.Read)
		}
		return operatorList(r)
	}
	mux.HandleFunc("GET /v1/sd/prometheus", g.route(sdNeeds, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("service") {
			h.serviceSD(w, r)
			return
		}
		h.prometheusSD(w, r)
	}))
	if h.kv != nil {
		key := func(a acl.Access) func(r *http.Request) []need {
			return func(r *http.Request) []need { return needs(acl.ResKV, r.PathValue("key"), a) }
		}
		mux.HandleFunc("GET /v1/kv", g.route(prefixListing(acl.ResKV), h.kvList))
		mux.HandleFunc("GET /v1/kv/{key...}", g.route(key(acl.Read), h.kvGet))
		mux.HandleFunc("PUT /v1/kv/{key...}", g.route(key(acl.Write), h.kvPut))
		mux.HandleFunc("DELETE /v1/kv/{key...}", g.route(keyOrPrefixWrite, h.kvDelete))
		mux.HandleFunc("DELETE /v1/kv", g.route(keyOrPrefixWrite, h.kvDelete))
	}
	if h.ekv != nil {
		h.eventualStatsRoute(mux, g)
	}
	if h.locks != nil {
		mux.HandleFunc("GET /v1/locks", g.route(prefixListing(acl.ResLock), h.lockList))
		mux.HandleFunc("GET /v1/locks/{name...}", g.route(nameOrListing(acl.ResLock, "name"), h.lockGet))
	}
	if h.sems != nil {
		h.semRoutes(mux, g)
	}
	if h.elections != nil {
		h.electionRoutes(mux, g)
	}
	if h.names != nil {
		h.nameRoutes(mux)
	}
	if h.groups != nil {
		h.groupRoutes(mux)
	}
	if h.registry != nil {
		h.registryRoutes(mux)
	}
	mux.HandleFunc("GET /v1/", h.notFoundJSON)
}

// keyOrPrefixWrite is what DELETE /v1/kv/{key} needs: write on the key,
// or on the ?prefix= when the path names none (a prefix delete, whose
// handler also checks every rule inside it: checkPrefixDelete).
func keyOrPrefixWrite(r *http.Request) []need {
	if key := r.PathValue("key"); key != "" {
		return needs(acl.ResKV, key, acl.Write)
	}
	return needs(acl.ResKV, r.URL.Query().Get("prefix"), acl.Write)
}

// prefixListing is what a listing by ?prefix= needs.
func prefixListing(res acl.Resource) func(r *http.Request) []need {
	return func(r *http.Request) []need { return listing(res, r.URL.Query().Get("prefix")) }
}

// nameOrListing is what GET /v1/<resource>/{name} needs: read on the
// name, or a listing's when the name is empty (the path lists).
func nameOrListing(res acl.Resource, path string) func(r *http.Request) []need {
	return func(r *http.Request) []need {
		if name := r.PathValue(path); name != "" {
			return needs(res, name, acl.Read)
		}
		return listing(res, r.URL.Query().Get("prefix"))
	}
}

// memberJSON is cluster.Member on the wire (the fields of conclave.v1.Member
// plus last_seen).
type memberJSON struct {
	Name          string    `json:"name"`
	Addr          string    `json:"addr"`
	State         string    `json:"state"`
	FailureDomain string    `json:"failure_domain"`
	Priority      int       `json:"priority"`
	Eligible      bool      `json:"eligible"`
	RoleHint      string    `json:"role_hint"`
	RaftRole      string    `json:"raft_role"`
	InternodeAddr string    `json:"internode_addr"`
	APIAddr       string    `json:"api_addr"`
	HTTPAddr      string    `json:"http_addr"`
	Leader        bool      `json:"leader"`
	ClusterID     string    `json:"cluster_id"`
	LastSeen      time.Time `json:"last_seen"`
}

func (h *rest) members(w http.ResponseWriter, r *http.Request) {
	ms := h.cluster.Members()
	out := struct {
		Node    string       `json:"node"`
		Members []memberJSON `json:"members"`
	}{Node: h.cluster.Name(), Members: make([]memberJSON, 0, len(ms))}
	for _, m := range ms {
		if !mayRead(r.Context(), acl.ResOperator, m.Name) {
			continue
		}
		out.Members = append(out.Members, memberJSON{
			Name: m.Name, Addr: m.Addr, State: m.State, FailureDomain: m.FailureDomain,
			Priority: m.Priority, Eligible: m.Eligible, RoleHint: m.RoleHint, RaftRole: m.RaftRole,
			InternodeAddr: m.InternodeAddr, APIAddr: m.APIAddr, HTTPAddr: m.HTTPAddr,
			Leader: m.Leader, ClusterID: m.ClusterID, LastSeen: m.LastSeen,
		})
	}
	h.write(w, out)
}

type raftServerJSON struct {
	ID            string `json:"id"`
	Address       string `json:"address"`
	Suffrage      string `json:"suffrage"`
	Role          string `json:"role"`
	Leader        bool   `json:"leader"`
	FailureDomain string `json:"failure_domain"`
	Priority      int    `json:"priority"`
}

type raftJSON struct {
	Node               string           `json:"node"`
	State              string           `json:"state"`
	Term               uint64           `json:"term"`
	LeaderID           string           `json:"leader_id"`
	LeaderAddr         string           `json:"leader_addr"`
	ClusterID          string           `json:"cluster_id"`
	CommitIndex        uint64           `json:"commit_index"`
	AppliedIndex       uint64           `json:"applied_index"`
	LastIndex          uint64           `json:"last_index"`
	LastContactSeconds float64          `json:"last_contact_seconds"`
	Servers            []raftServerJSON `json:"servers"`
}

func (h *rest) raft(w http.ResponseWriter, r *http.Request) {
	s := h.cluster.RaftStatus()
	out := raftJSON{
		Node: s.Node, State: s.State, Term: s.Term, LeaderID: s.LeaderID, LeaderAddr: s.LeaderAddr,
		ClusterID: s.ClusterID, CommitIndex: s.CommitIndex, AppliedIndex: s.AppliedIndex,
		LastIndex: s.LastIndex, LastContactSeconds: s.LastContact.Seconds(),
		Servers: make([]raftServerJSON, 0, len(s.Servers)),
	}
	for _, srv := range s.Servers {
		out.Servers = append(out.Servers, raftServerJSON{
			ID: srv.ID, Address: srv.Address, Suffrage: srv.Suffrage, Role: srv.Role,
			Leader: srv.Leader, FailureDomain: srv.FailureDomain, Priority: srv.Priority,
		})
	}
	h.write(w, out)
}

// kvJSON is a KV entry; Value is base64 in JSON ([]byte), as in Consul.
type kvJSON struct {
	Key         string `json:"key"`
	Value       []byte `json:"value"`
	Version     uint64 `json:"version"`
	CreateIndex uint64 `json:"create_index"`
	// Clock is set for an entry of the eventual store (?store=eventual).
	Clock *clockJSON `json:"clock,omitempty"`
}

func toKVJSON(e cluster.KVEntry) kvJSON {
	return kvJSON{Key: e.Key, Value: e.Value, Version: e.Version, CreateIndex: e.CreateIndex}
}

func (h *rest) kvGet(w http.ResponseWriter, r *http.Request) {
	if h.eventualKV(w, r) {
		return
	}
	key := r.PathValue("key")
	if key == "" {
		// GET /v1/kv/ lists, like GET /v1/kv.
		h.kvList(w, r)
		return
	}
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	e, err := h.kv.Get(r.Context(), key, mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	if _, raw := r.URL.Query()["raw"]; raw {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Conclave-Version", strconv.FormatUint(e.Version, 10))
		_, _ = w.Write(e.Value)
		return
	}
	h.write(w, toKVJSON(e))
}

func (h *rest) kvList(w http.ResponseWriter, r *http.Request) {
	if h.eventualKV(w, r) {
		return
	}
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 0 {
			h.fail(w, r, invalidArgument("limit", "must be a non-negative integer, got %q", v))
			return
		}
	}
	var entries []cluster.KVEntry
	if v := r.URL.Query().Get("index"); v != "" {
		// A blocking query: answer when a key with the prefix changes
		// after index, or after ?wait (at most restWatchWait).
		entries, err = h.kvWatch(w, r, v)
	} else if entries, err = h.kv.List(r.Context(), r.URL.Query().Get("prefix"), limit, mode); err != nil {
		err = statusError(err)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := struct {
		Entries []kvJSON `json:"entries"`
	}{Entries: make([]kvJSON, 0, len(entries))}
	for _, e := range entries {
		if !mayRead(r.Context(), acl.ResKV, e.Key) {
			continue
		}
		out.Entries = append(out.Entries, toKVJSON(e))
	}
	h.write(w, out)
}

// restWatchWait bounds a REST blocking query, within the 30 s every REST
// request gets.
const restWatchWait = 25 * time.Second

// kvWatch runs the blocking query of GET /v1/kv?prefix=P&index=N[&wait=D]
// and sets X-Conclave-Index to the index to pass next time.
func (h *rest) kvWatch(w http.ResponseWriter, r *http.Request, index string) ([]cluster.KVEntry, error) {
	after, err := strconv.ParseUint(index, 10, 64)
	if err != nil {
		return nil, invalidArgument("index", "must be a non-negative integer, got %q", index)
	}
	wait := restWatchWait
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, invalidArgument("wait", "must be a positive duration such as 10s, got %q", v)
		}
		wait = min(d, restWatchWait)
	}
	es, next, err := h.kv.Watch(r.Context(), r.URL.Query().Get("prefix"), after, wait)
	if err != nil {
		return nil, statusError(err)
	}
	w.Header().Set("X-Conclave-Index", strconv.FormatUint(next, 10))
	return es, nil
}

func (h *rest) kvPut(w http.ResponseWriter, r *http.Request) {
	if h.eventualKV(w, r) {
		return
	}
	key := r.PathValue("key")
	if key == "" {
		h.fail(w, r, invalidArgument("key", "must not be empty"))
		return
	}
	cas, hasCAS, err := queryUint(r, "cas")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, r, invalidArgument("value", "larger than %d bytes", tooBig.Limit))
			return
		}
		h.fail(w, r, status.Errorf(codes.Canceled, "read request body: %v", err))
		return
	}
	var e cluster.KVEntry
	if hasCAS {
		e, err = h.kv.CompareAndSet(r.Context(), key, value, cas)
	} else {
		e, err = h.kv.Put(r.Context(), key, value)
	}
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	h.write(w, toKVJSON(e))
}

func (h *rest) kvDelete(w http.ResponseWriter, r *http.Request) {
	if h.eventualKV(w, r) {
		return
	}
	key := r.PathValue("key")
	if _, ok := r.URL.Query()["prefix"]; ok && key == "" {
		h.kvDeletePrefix(w, r)
		return
	}
	if key == "" {
		h.fail(w, r, invalidArgument("key", "must not be empty (DELETE /v1/kv?prefix=P deletes a prefix)"))
		return
	}
	cas, hasCAS, err := queryUint(r, "cas")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if hasCAS && cas == 0 {
		h.fail(w, r, invalidArgument("cas", "must be > 0 when set (omit it for an unconditional delete)"))
		return
	}
	if err := h.kv.Delete(r.Context(), key, cas); err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	h.write(w, struct {
		Deleted string `json:"deleted"`
	}{key})
}

// kvDeletePrefix answers DELETE /v1/kv?prefix=P: every key with the
// (non-empty) prefix, in one entry.
func (h *rest) kvDeletePrefix(w http.ResponseWriter, r *http.Request) {
	prefix := r.URL.Query().Get("prefix")
	if prefix == "" {
		h.fail(w, r, invalidArgument("prefix", "must not be empty: a prefix delete of every key is refused"))
		return
	}
	if err := checkPrefixDelete(r.Context(), h.guard, r.Method+" "+r.URL.Path, prefix); err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.kv.DeletePrefix(r.Context(), prefix)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	h.write(w, struct {
		Prefix  string `json:"prefix"`
		Deleted int    `json:"deleted"`
	}{prefix, n})
}

type lockWaiterJSON struct {
	PID      string     `json:"pid"`
	Deadline *time.Time `json:"deadline,omitempty"`
}

type lockJSON struct {
	Name             string           `json:"name"`
	Holder           string           `json:"holder"`
	Token            uint64           `json:"token"`
	GrantedAt        *time.Time       `json:"granted_at,omitempty"`
	LockDelaySeconds float64          `json:"lock_delay_seconds"`
	DelayUntil       *time.Time       `json:"delay_until,omitempty"`
	Waiters          []lockWaiterJSON `json:"waiters"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toLockJSON(l cluster.LockInfo) lockJSON {
	out := lockJSON{
		Name: l.Name, Holder: l.Holder, Token: l.Token, GrantedAt: timeOrNil(l.GrantedAt),
		LockDelaySeconds: l.LockDelay.Seconds(), DelayUntil: timeOrNil(l.DelayUntil),
		Waiters: make([]lockWaiterJSON, 0, len(l.Waiters)),
	}
	for _, wt := range l.Waiters {
		out.Waiters = append(out.Waiters, lockWaiterJSON{PID: wt.PID, Deadline: timeOrNil(wt.Deadline)})
	}
	return out
}

func (h *rest) lockList(w http.ResponseWriter, r *http.Request) {
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	infos, err := h.locks.List(r.Context(), r.URL.Query().Get("prefix"), mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	out := struct {
		Locks []lockJSON `json:"locks"`
	}{Locks: make([]lockJSON, 0, len(infos))}
	for _, l := range infos {
		if !mayRead(r.Context(), acl.ResLock, l.Name) {
			continue
		}
		out.Locks = append(out.Locks, toLockJSON(l))
	}
	h.write(w, out)
}

func (h *rest) lockGet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		h.lockList(w, r)
		return
	}
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	info, err := h.locks.Inspect(r.Context(), name, mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	h.write(w, toLockJSON(info))
}

// queryMode reads ?mode=stale|default|consistent (absent = default).
func queryMode(r *http.Request) (cluster.ReadMode, error) {
	switch v := r.URL.Query().Get("mode"); v {
	case "", "default":
		return cluster.ReadDefault, nil
	case "stale":
		return cluster.ReadStale, nil
	case "consistent":
		return cluster.ReadConsistent, nil
	default:
		return 0, invalidArgument("mode", "want stale, default or consistent, got %q", v)
	}
}

// queryUint reads an optional unsigned query parameter.
func queryUint(r *http.Request, name string) (uint64, bool, error) {
	q := r.URL.Query()
	if _, ok := q[name]; !ok {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(q.Get(name), 10, 64)
	if err != nil {
		return 0, false, invalidArgument(name, "must be an unsigned integer, got %q", q.Get(name))
	}
	return v, true, nil
}

// errorJSON is the body of every REST error.
type errorJSON struct {
	Error struct {
		Code    string `json:"code"` // the gRPC code name: NotFound, InvalidArgument, ...
		Message string `json:"message"`
	} `json:"error"`
}

// fail writes err, a gRPC status error (or anything, which is Internal),
// as JSON with the HTTP status matching its code.
func (h *rest) fail(w http.ResponseWriter, r *http.Request, err error) { failHTTP(w, r, h.log, err) }

// failHTTP is rest.fail for handlers outside rest (the guard).
func failHTTP(w http.ResponseWriter, r *http.Request, log zerolog.Logger, err error) {
	st, ok := status.FromError(err)
	if !ok {
		st = status.New(codes.Internal, err.Error())
	}
	var body errorJSON
	body.Error.Code = st.Code().String()
	body.Error.Message = CleanMessage(st.Code(), st.Message())
	if st.Code() == codes.Internal {
		log.Warn().Str("path", r.URL.Path).Str("error", st.Message()).Msg("rest request failed")
	}
	writeJSON(w, log, httpStatus(st.Code()), body)
}

func (h *rest) write(w http.ResponseWriter, v any) { writeJSON(w, h.log, http.StatusOK, v) }

func writeJSON(w http.ResponseWriter, log zerolog.Logger, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		log.Debug().Err(err).Msg("write json response")
	}
}

// httpStatus maps a gRPC code to the HTTP status that means the same, as
// grpc-gateway does (Canceled is nginx's 499 "client closed request").
func httpStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// notFoundJSON answers unknown /v1/ paths in the REST error shape, so the
// status page (and scripts) can tell "no such endpoint" from a broken one.
func (h *rest) notFoundJSON(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, status.Errorf(codes.NotFound, "no endpoint %s %s", r.Method, r.URL.Path))
}

// requestTimeout bounds a REST call that has no deadline of its own: the
// HTTP client cannot send one the way a gRPC client does.
const requestTimeout = 30 * time.Second

// withTimeout gives every REST request a deadline.
func withTimeout(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
