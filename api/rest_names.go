package api

import (
	"net/http"
	"time"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/naming"
)

// nameRoutes serves the names over REST:
// GET /v1/names[?prefix=P&scope=S&mode=M] and GET /v1/names/{name}.
func (h *rest) nameRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/names", h.guard.route(prefixListing(acl.ResName), h.nameList))
	mux.HandleFunc("GET /v1/names/{name...}", h.guard.route(nameOrListing(acl.ResName, "name"), func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "" {
			h.nameList(w, r)
			return
		}
		h.nameGet(w, r)
	}))
}

// nameJSON is a binding on the wire, flat for the status page.
type nameJSON struct {
	Name         string     `json:"name"`
	PID          string     `json:"pid"`
	Scope        string     `json:"scope"`
	Metadata     string     `json:"metadata"`
	Index        uint64     `json:"index"`
	RegisteredAt *time.Time `json:"registered_at"`
}

func toNameJSON(b naming.Binding) nameJSON {
	return nameJSON{Name: b.Name, PID: b.PID, Scope: b.Scope.String(), Metadata: string(b.Meta),
		Index: b.Index, RegisteredAt: timeOrNil(b.RegisteredAt)}
}

func (h *rest) nameList(w http.ResponseWriter, r *http.Request) {
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	scope := naming.ScopeUnspecified
	if s := r.URL.Query().Get("scope"); s != "" && s != "all" {
		if scope, err = naming.ParseScope(s); err != nil {
			h.fail(w, r, invalidArgument("scope", "want all, local, eventual, consistent or strong, got %q", s))
			return
		}
	}
	bs, err := h.names.List(r.Context(), r.URL.Query().Get("prefix"), scope, mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	out := struct {
		Names []nameJSON `json:"names"`
	}{Names: make([]nameJSON, 0, len(bs))}
	for _, b := range bs {
		if !mayRead(r.Context(), acl.ResName, b.Name) {
			continue
		}
		out.Names = append(out.Names, toNameJSON(b))
	}
	h.write(w, out)
}

func (h *rest) nameGet(w http.ResponseWriter, r *http.Request) {
	mode, err := queryMode(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := h.names.Lookup(r.Context(), r.PathValue("name"), mode)
	if err != nil {
		h.fail(w, r, statusError(err))
		return
	}
	h.write(w, toNameJSON(b))
}
