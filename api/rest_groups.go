package api

import (
	"net/http"

	"github.com/conclave-dev/conclave/acl"
)

// groupRoutes serves the process groups over REST:
// GET /v1/groups[?scope=S] and GET /v1/groups/{group}[?scope=S&local=true].
func (h *rest) groupRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/groups", h.guard.route(func(*http.Request) []need { return listing(acl.ResGroup, "") }, h.groupList))
	mux.HandleFunc("GET /v1/groups/{group...}", h.guard.route(nameOrListing(acl.ResGroup, "group"), func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("group") == "" {
			h.groupList(w, r)
			return
		}
		h.groupMembers(w, r)
	}))
}

// groupJSON is one group on the wire, flat for the status page.
type groupJSON struct {
	Scope   string `json:"scope"`
	Group   string `json:"group"`
	Members int    `json:"members"`
	Local   int    `json:"local"`
}

func groupScope(r *http.Request) string {
	if s := r.URL.Query().Get("scope"); s != "" {
		return s
	}
	return "default"
}

func (h *rest) groupList(w http.ResponseWriter, r *http.Request) {
	gs, err := h.groups.Groups(groupScope(r))
	if err != nil {
		h.fail(w, r, statusError(groupsErr(err)))
		return
	}
	out := struct {
		Groups []groupJSON `json:"groups"`
	}{Groups: make([]groupJSON, 0, len(gs))}
	for _, g := range gs {
		if !mayRead(r.Context(), acl.ResGroup, g.Group) {
			continue
		}
		out.Groups = append(out.Groups, groupJSON{Scope: g.Scope, Group: g.Group, Members: g.Members, Local: g.Local})
	}
	h.write(w, out)
}

func (h *rest) groupMembers(w http.ResponseWriter, r *http.Request) {
	local := r.URL.Query().Get("local") == "true"
	pids, err := h.groups.Members(groupKey(groupScope(r), r.PathValue("group")), local)
	if err != nil {
		h.fail(w, r, statusError(groupsErr(err)))
		return
	}
	h.write(w, struct {
		Scope   string   `json:"scope"`
		Group   string   `json:"group"`
		Members []string `json:"members"`
	}{groupScope(r), r.PathValue("group"), append([]string{}, pids...)})
}
