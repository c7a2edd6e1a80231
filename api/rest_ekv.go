package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/kv"
)

// The eventual store on /v1/kv: ?store=eventual on GET, PUT and DELETE.
// The query parameters the eventual store cannot honour (cas, index,
// a consistent mode, a prefix delete) are refused by name.

// clockJSON is an eventual entry's HLC stamp.
type clockJSON struct {
	WallNs  int64  `json:"wall_ns"`
	Logical uint32 `json:"logical"`
	Origin  string `json:"origin"`
}

func eventualToKVJSON(e kv.EventualEntry) kvJSON {
	return kvJSON{Key: e.Key, Value: e.Value, Clock: &clockJSON{WallNs: e.Clock.Wall, Logical: e.Clock.Logical, Origin: e.Origin}}
}

// queryEventual reads ?store: "" and "raft" are the Raft store,
// "eventual" the eventual one.
func (h *rest) queryEventual(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("store"); v {
	case "", "raft":
		return false, nil
	case "eventual":
		if h.ekv == nil {
			return false, status.Error(codes.Unimplemented, "store: the eventual store is not served here")
		}
		return true, nil
	default:
		return false, invalidArgument("store", "must be raft or eventual, got %q", v)
	}
}

// refuseParams refuses the query parameters the eventual store has no use
// for, naming the first one present.
func refuseParams(r *http.Request, names ...string) error {
	for _, n := range names {
		if _, ok := r.URL.Query()[n]; ok {
			return invalidArgument(n, "not supported with store=eventual")
		}
	}
	return nil
}

// eventualKV serves the request from the eventual store if it asks for it
// and reports whether it did (or failed it).
func (h *rest) eventualKV(w http.ResponseWriter, r *http.Request) bool {
	ev, err := h.queryEventual(r)
	if err != nil {
		h.fail(w, r, err)
		return true
	}
	if !ev {
		return false
	}
	key := r.PathValue("key")
	q := r.URL.Query()
	if m := q.Get("mode"); m != "" && m != "stale" && m != "default" {
		h.fail(w, r, invalidArgument("mode", "the eventual store reads the serving node's copy; only default or stale applies"))
		return true
	}
	switch {
	case r.Method == http.MethodGet && key == "":
		if err := refuseParams(r, "index", "wait"); err != nil {
			h.fail(w, r, err)
			return true
		}
		limit := 0
		if v := q.Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
				h.fail(w, r, invalidArgument("limit", "must be a non-negative integer, got %q", v))
				return true
			}
		}
		es, err := h.ekv.List(r.Context(), q.Get("prefix"), limit)
		if err != nil {
			h.fail(w, r, statusError(err))
			return true
		}
		out := struct {
			Entries []kvJSON `json:"entries"`
		}{Entries: make([]kvJSON, 0, len(es))}
		for _, e := range es {
			if mayRead(r.Context(), acl.ResKV, e.Key) {
				out.Entries = append(out.Entries, eventualToKVJSON(e))
			}
		}
		h.write(w, out)
	case r.Method == http.MethodGet:
		e, err := h.ekv.Get(r.Context(), key)
		if err != nil {
			h.fail(w, r, statusError(err))
			return true
		}
		if _, raw := q["raw"]; raw {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(e.Value)
			return true
		}
		h.write(w, eventualToKVJSON(e))
	case r.Method == http.MethodPut:
		if err := refuseParams(r, "cas"); err != nil {
			h.fail(w, r, err)
			return true
		}
		if key == "" {
			h.fail(w, r, invalidArgument("key", "must not be empty"))
			return true
		}
		value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				h.fail(w, r, invalidArgument("value", "larger than %d bytes", tooBig.Limit))
				return true
			}
			h.fail(w, r, status.Errorf(codes.Canceled, "read request body: %v", err))
			return true
		}
		e, err := h.ekv.Put(r.Context(), key, value)
		if err != nil {
			h.fail(w, r, statusError(err))
			return true
		}
		h.write(w, eventualToKVJSON(e))
	case r.Method == http.MethodDelete:
		if err := refuseParams(r, "cas", "prefix"); err != nil {
			h.fail(w, r, err)
			return true
		}
		if key == "" {
			h.fail(w, r, invalidArgument("key", "must not be empty"))
			return true
		}
		if err := h.ekv.Delete(r.Context(), key); err != nil {
			h.fail(w, r, statusError(err))
			return true
		}
		h.write(w, struct {
			Deleted string `json:"deleted"`
		}{key})
	default:
		return false
	}
	return true
}

// eventualStore is the optional ability GET /v1/eventual-kv needs of the
// eventual store: its size and bounds (*kv.EventualService has it). A
// store without it has no such endpoint (404).
type eventualStore interface {
	Store() *kv.Eventual
}

// eventualStatsJSON is GET /v1/eventual-kv: the serving node's eventual
// store against its bounds (kv.EventualStats, kv.EventualConfig).
type eventualStatsJSON struct {
	Node       string `json:"node"`
	Keys       int    `json:"keys"`
	Tombstones int    `json:"tombstones"`
	// Bytes is what counts against MaxStoreBytes: keys, values,
	// tombstones and kv.EntryOverhead per key.
	Bytes         int               `json:"bytes"`
	MaxStoreBytes int               `json:"max_store_bytes"`
	MaxValueBytes int               `json:"max_value_bytes"`
	TombstoneTTL  string            `json:"tombstone_ttl"`
	Merges        uint64            `json:"merges"`
	Dropped       map[string]uint64 `json:"dropped"`
}

// eventualStatsRoute registers GET /v1/eventual-kv when the eventual store
// can tell its size. The size covers every key, so it needs read on the
// whole KV keyspace (a rule for the prefix "" or *), not just a listing's
// read on some of it.
func (h *rest) eventualStatsRoute(mux *http.ServeMux, g *guard) {
	st, ok := h.ekv.(eventualStore)
	if !ok {
		return
	}
	whole := func(*http.Request) []need { return needs(acl.ResKV, "", acl.Read) }
	mux.HandleFunc("GET /v1/eventual-kv", g.route(whole, func(w http.ResponseWriter, r *http.Request) {
		e := st.Store()
		s, cfg := e.Stats(), e.Config()
		h.write(w, eventualStatsJSON{Node: h.cluster.Name(), Keys: s.Keys, Tombstones: s.Tombstones, Bytes: s.Bytes,
			MaxStoreBytes: cfg.MaxStoreBytes, MaxValueBytes: cfg.MaxValueBytes, TombstoneTTL: cfg.TombstoneTTL.String(),
			Merges: s.Merges, Dropped: s.Dropped})
	}))
}
