package api

import (
	"net/http"
	"time"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/cluster"
)

// The /v1/semaphores read endpoints, shaped like /v1/locks.

type semHolderJSON struct {
	PID       string     `json:"pid"`
	Token     uint64     `json:"token"`
	GrantedAt *time.Time `json:"granted_at,omitempty"`
}

type semJSON struct {
	Name    string           `json:"name"`
	Limit   int              `json:"limit"`
	Holders []semHolderJSON  `json:"holders"`
	Waiters []lockWaiterJSON `json:"waiters"`
}

func toSemJSON(s cluster.SemInfo) semJSON {
	out := semJSON{Name: s.Name, Limit: s.Limit, Holders: make([]semHolderJSON, 0, len(s.Holders)),
		Waiters: make([]lockWaiterJSON, 0, len(s.Waiters))}
	for _, h := range s.Holders {
		out.Holders = append(out.Holders, semHolderJSON{PID: h.PID, Token: h.Token, GrantedAt: timeOrNil(h.GrantedAt)})
	}
	for _, w := range s.Waiters {
		out.Waiters = append(out.Waiters, lockWaiterJSON{PID: w.PID, Deadline: timeOrNil(w.Deadline)})
	}
	return out
}

func (h *rest) semRoutes(mux *http.ServeMux, g *guard) {
	mux.HandleFunc("GET /v1/semaphores", g.route(prefixListing(acl.ResLock), h.semList))
	mux.HandleFunc("GET /v1/semaphores/{name...}", g.route(nameOrListing(acl.ResLock, "name"), h.semGet))
}

func (h *rest) semList(w http.ResponseWriter, r *http.Request) {
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	infos, err := h.sems.SemList(r.Context(), r.URL.Query().Get("prefix"), mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	out := struct {
		Semaphores []semJSON `json:"semaphores"`
	}{Semaphores: make([]semJSON, 0, len(infos))}
	for _, s := range infos {
		if !mayRead(r.Context(), acl.ResLock, s.Name) {
			continue
		}
		out.Semaphores = append(out.Semaphores, toSemJSON(s))
	}
	h.write(w, out)
}

func (h *rest) semGet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		h.semList(w, r)
		return
	}
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	info, err := h.sems.SemInspect(r.Context(), name, mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	h.write(w, toSemJSON(info))
}

// The /v1/elections/<name> read endpoint: the leader, its value and the
// candidates in line.

type electionJSON struct {
	Name       string     `json:"name"`
	Leader     string     `json:"leader"`
	Token      uint64     `json:"token"`
	Value      string     `json:"value"`
	Rev        uint64     `json:"rev"`
	GrantedAt  *time.Time `json:"granted_at,omitempty"`
	Candidates []string   `json:"candidates"`
}

func toElectionJSON(e cluster.Election) electionJSON {
	out := electionJSON{Name: e.Name, Leader: e.Leader, Token: e.Token, Value: e.Value, Rev: e.Rev,
		GrantedAt: timeOrNil(e.GrantedAt), Candidates: make([]string, 0, len(e.Candidates))}
	for _, c := range e.Candidates {
		out.Candidates = append(out.Candidates, c.PID)
	}
	return out
}

func (h *rest) electionRoutes(mux *http.ServeMux, g *guard) {
	mux.HandleFunc("GET /v1/elections", g.route(prefixListing(acl.ResLock), h.electionList))
	mux.HandleFunc("GET /v1/elections/{name...}", g.route(nameOrListing(acl.ResLock, "name"), h.electionGet))
}

func (h *rest) electionList(w http.ResponseWriter, r *http.Request) {
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	es, err := h.elections.Elections(r.Context(), r.URL.Query().Get("prefix"), mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	out := struct {
		Elections []electionJSON `json:"elections"`
	}{Elections: make([]electionJSON, 0, len(es))}
	for _, e := range es {
		if mayRead(r.Context(), acl.ResLock, e.Name) {
			out.Elections = append(out.Elections, toElectionJSON(e))
		}
	}
	h.write(w, out)
}

func (h *rest) electionGet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		h.electionList(w, r)
		return
	}
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	e, err := h.elections.Leader(r.Context(), name, mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	h.write(w, toElectionJSON(e))
}
