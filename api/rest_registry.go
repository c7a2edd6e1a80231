package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/acl"
	"github.com/conclave-dev/conclave/registry"
)

// registryRoutes serves the service registry over REST, reads only (like
// the names: registering needs a session, which lives on a gRPC stream):
// GET /v1/services and GET /v1/services/{name}[?tag=&group=&passing=1&index=N&wait=D].
// /v1/sd/prometheus?service=NAME is routed by the cluster's routes
// (prometheusSD).
func (h *rest) registryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/services", h.guard.route(func(*http.Request) []need { return listing(acl.ResService, "") }, h.serviceList))
	mux.HandleFunc("GET /v1/services/{name...}", h.guard.route(nameOrListing(acl.ResService, "name"), func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "" {
			h.serviceList(w, r)
			return
		}
		h.serviceGet(w, r)
	}))
}

// instanceJSON is a registered instance on the wire.
type instanceJSON struct {
	Service      string            `json:"service"`
	ID           string            `json:"id"`
	Endpoint     string            `json:"endpoint"`
	Protocol     string            `json:"protocol"`
	Type         string            `json:"type"`
	Tags         []string          `json:"tags"`
	Groups       []string          `json:"groups"`
	Meta         map[string]string `json:"meta"`
	PID          string            `json:"pid"`
	Node         string            `json:"node"`
	Health       string            `json:"health"`
	Output       string            `json:"output"`
	RegisteredAt *time.Time        `json:"registered_at"`
	LastSeen     *time.Time        `json:"last_seen"`
	CreateIndex  uint64            `json:"create_index"`
	ModifyIndex  uint64            `json:"modify_index"`
}

func toInstanceJSON(in registry.Instance) instanceJSON {
	out := instanceJSON{
		Service: in.Service, ID: in.ID, Endpoint: in.Endpoint, Protocol: in.Protocol, Type: in.Type,
		Tags: in.Tags, Groups: in.Groups, Meta: in.Meta, PID: in.PID, Node: in.Node,
		Health: in.Health.String(), Output: in.Output,
		RegisteredAt: timeOrNil(in.RegisteredAt), LastSeen: timeOrNil(in.LastSeen),
		CreateIndex: in.CreateIndex, ModifyIndex: in.ModifyIndex,
	}
	// Empty lists and maps as [] and {}, never null, for scripts.
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	if out.Meta == nil {
		out.Meta = map[string]string{}
	}
	return out
}

// serviceSummaryJSON is one service of GET /v1/services.
type serviceSummaryJSON struct {
	Name     string   `json:"name"`
	Passing  int      `json:"passing"`
	Warning  int      `json:"warning"`
	Critical int      `json:"critical"`
	Tags     []string `json:"tags"`
}

func (h *rest) serviceList(w http.ResponseWriter, r *http.Request) {
	sums, index := h.registry.Services()
	out := struct {
		Services []serviceSummaryJSON `json:"services"`
		Index    uint64               `json:"index"`
	}{Services: make([]serviceSummaryJSON, 0, len(sums)), Index: index}
	for _, s := range sums {
		if !mayRead(r.Context(), acl.ResService, s.Name) {
			continue
		}
		tags := s.Tags
		if tags == nil {
			tags = []string{}
		}
		out.Services = append(out.Services, serviceSummaryJSON{Name: s.Name, Passing: s.Passing, Warning: s.Warning,
			Critical: s.Critical, Tags: tags})
	}
	w.Header().Set("X-Conclave-Index", strconv.FormatUint(index, 10))
	h.write(w, out)
}

// serviceGet answers GET /v1/services/{name}: the instances of the service
// the query selects, at once, or, with ?index=N, Consul's blocking query:
// once the answer's index passes N, or after ?wait (at most
// restWatchWait) with the answer as it is. X-Conclave-Index is the index
// to pass next time.
func (h *rest) serviceGet(w http.ResponseWriter, r *http.Request) {
	f, err := serviceFilter(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var insts []registry.Instance
	var index uint64
	if v := r.URL.Query().Get("index"); v != "" {
		insts, index, err = h.serviceWait(r, f, v)
		if err != nil {
			h.fail(w, r, err)
			return
		}
	} else {
		insts, index = h.registry.Instances(f)
	}
	out := struct {
		Service   string         `json:"service"`
		Instances []instanceJSON `json:"instances"`
		Index     uint64         `json:"index"`
	}{Service: f.Service, Instances: make([]instanceJSON, 0, len(insts)), Index: index}
	for _, in := range insts {
		out.Instances = append(out.Instances, toInstanceJSON(in))
	}
	w.Header().Set("X-Conclave-Index", strconv.FormatUint(index, 10))
	h.write(w, out)
}

// serviceFilter reads the filter of GET /v1/services/{name}.
func serviceFilter(r *http.Request) (registry.Filter, error) {
	q := r.URL.Query()
	f := registry.Filter{Service: r.PathValue("name"), Tag: q.Get("tag"), Group: q.Get("group")}
	switch v := q.Get("passing"); v {
	case "", "0", "false":
	case "1", "true":
		f.PassingOnly = true
	default:
		return f, invalidArgument("passing", "want 1, true, 0 or false, got %q", v)
	}
	return f, nil
}

// serviceWait runs the blocking query: Wait bounded by ?wait.
func (h *rest) serviceWait(r *http.Request, f registry.Filter, index string) ([]registry.Instance, uint64, error) {
	after, err := strconv.ParseUint(index, 10, 64)
	if err != nil {
		return nil, 0, invalidArgument("index", "must be a non-negative integer, got %q", index)
	}
	wait := restWatchWait
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, 0, invalidArgument("wait", "must be a positive duration such as 10s, got %q", v)
		}
		wait = min(d, restWatchWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	insts, next, err := h.registry.Wait(ctx, f, after)
	switch {
	case err == nil:
	case r.Context().Err() != nil:
		// The caller went (or its request timed out).
		return nil, 0, status.FromContextError(r.Context().Err()).Err()
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		// ?wait passed with no change: the answer as it is.
	default:
		return nil, 0, statusError(err)
	}
	return insts, next, nil
}

// metaLabelChars are the characters a Prometheus label name may not have.
var metaLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// serviceSD answers GET /v1/sd/prometheus?service=NAME: one Prometheus
// HTTP SD target group per passing instance, its endpoint the target, its
// fields __meta_conclave_* labels (as Consul's SD names them).
func (h *rest) serviceSD(w http.ResponseWriter, r *http.Request) {
	if h.registry == nil {
		h.fail(w, r, status.Error(codes.NotFound, "service: the service registry is not served on this node"))
		return
	}
	f := registry.Filter{Service: r.URL.Query().Get("service"), PassingOnly: true}
	if f.Service == "" {
		h.fail(w, r, invalidArgument("service", "must not be empty (omit it to list the agents)"))
		return
	}
	insts, index := h.registry.Instances(f)
	groups := []sdTargetGroup{}
	for _, in := range insts {
		labels := map[string]string{
			"__meta_conclave_service":  in.Service,
			"__meta_conclave_id":       in.ID,
			"__meta_conclave_node":     in.Node,
			"__meta_conclave_protocol": in.Protocol,
			"__meta_conclave_type":     in.Type,
			"__meta_conclave_health":   in.Health.String(),
			// Consul's shape: every tag between commas, so a relabel
			// regex .*,TAG,.* matches one.
			"__meta_conclave_tags":   sdList(in.Tags),
			"__meta_conclave_groups": sdList(in.Groups),
		}
		keys := make([]string, 0, len(in.Meta))
		for k := range in.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			labels["__meta_conclave_meta_"+metaLabelChars.ReplaceAllString(k, "_")] = in.Meta[k]
		}
		groups = append(groups, sdTargetGroup{Targets: []string{in.Endpoint}, Labels: labels})
	}
	w.Header().Set("X-Conclave-Index", strconv.FormatUint(index, 10))
	h.write(w, groups)
}

// sdList is ",a,b," ("" for none).
func sdList(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return "," + strings.Join(xs, ",") + ","
}
