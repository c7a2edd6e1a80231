package api

import (
	"net/http"

	"github.com/rs/zerolog"

	"github.com/conclave-dev/conclave/cluster"
)

// HealthNode runs the node's named health checks (DESIGN §12). Both methods
// are called from HTTP handler goroutines, concurrently, and must not
// block. Without it, /v1/health/live reports only that the API serves and
// /v1/health/ready only whether the Cluster service's RaftStatus names a
// leader.
type HealthNode interface {
	// Liveness runs the checks whose failure means "restart me".
	Liveness() []cluster.CheckResult
	// Readiness runs the liveness checks and those whose failure means
	// "send me no traffic".
	Readiness() []cluster.CheckResult
}

// healthCheck is one named check of a health response.
type healthCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"` // pass | warn | fail
	Reason string `json:"reason"`
}

// healthResponse follows the shape of the IETF health-check draft
// (draft-inadarei-api-health-check): an overall status, then every check.
type healthResponse struct {
	Status string        `json:"status"` // fail if any check fails, else pass
	Node   string        `json:"node"`
	Checks []healthCheck `json:"checks"`
}

// healthHandler answers /v1/health/live (ready false) and /v1/health/ready
// (ready true): 200 when no check fails, 503 otherwise, with every check
// named in the body either way. Liveness failing means "restart this
// process"; readiness failing means "send it no clients" (docs/operations.md).
//
// Health answers carry Access-Control-Allow-Origin: * so the status page
// served by one node can show the readiness of the others: they are
// read-only and carry no credentials.
func healthHandler(node ClusterNode, checks HealthNode, log zerolog.Logger, ready bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := healthResponse{Status: "pass", Node: node.Name()}
		for _, c := range runHealth(node, checks, ready) {
			h.Checks = append(h.Checks, healthCheck{Name: c.Name, Status: c.Status, Reason: c.Reason})
			if c.Status == cluster.HealthFail {
				h.Status = "fail"
			}
		}
		code := http.StatusOK
		if h.Status == "fail" {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/health+json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSON(w, log, code, h)
	}
}

// runHealth runs the node's checks, or the fallback ones when checks is
// nil.
func runHealth(node ClusterNode, checks HealthNode, ready bool) []cluster.CheckResult {
	if checks != nil {
		if ready {
			return checks.Readiness()
		}
		return checks.Liveness()
	}
	out := []cluster.CheckResult{{Name: "serving", Status: cluster.HealthPass, Reason: "api is serving"}}
	if ready {
		c := cluster.CheckResult{Name: "leader", Status: cluster.HealthPass}
		if st := node.RaftStatus(); st.LeaderID == "" {
			c.Status, c.Reason = cluster.HealthFail, "no known Raft leader"
		} else {
			c.Reason = "leader " + st.LeaderID
		}
		out = append(out, c)
	}
	return out
}
