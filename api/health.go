package api

import (
	"encoding/json"
	"net/http"

	"github.com/rs/zerolog"
)

// healthCheck is one named check of a health response.
type healthCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"` // pass | warn | fail
	Output string `json:"output,omitempty"`
}

// healthResponse follows the shape of the IETF health-check draft
// (draft-inadarei-api-health-check) that Consul-style tooling reads.
type healthResponse struct {
	Status string        `json:"status"`
	Node   string        `json:"node"`
	Checks []healthCheck `json:"checks"`
}

// liveHandler answers /v1/health/live. Liveness means only "this process
// serves requests": a supervisor restarts on failure, and restarting a node
// because its cluster lost quorum would make things worse. Cluster-level
// health is readiness (/v1/health/ready, to come).
func liveHandler(node Node, log zerolog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeHealth(w, log, healthResponse{
			Status: "pass",
			Node:   node.Name(),
			Checks: []healthCheck{{Name: "serving", Status: "pass", Output: "api is serving"}},
		})
	}
}

func writeHealth(w http.ResponseWriter, log zerolog.Logger, h healthResponse) {
	code := http.StatusOK
	if h.Status == "fail" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/health+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(h); err != nil {
		// The client went away mid-response; nothing to send it.
		log.Debug().Err(err).Msg("write health response")
	}
}
