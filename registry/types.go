// Package registry is conclave's service registry (issue 16): instances that
// sessions announce, their health, and the queries and watches over them.
// The full description is in doc.go.
package registry

import (
	"time"
)

// TableID is the registry table's number in the command envelope
// (wire.Command). Every op number below it is wire format and never changes
// meaning.
const TableID = 6

// Health is an instance's health, worst last: Passing < Warning < Critical.
type Health uint8

const (
	// Passing: every check passes (or the instance has none).
	Passing Health = 1
	// Warning: a check warns (an HTTP 429, a TTL set to warning).
	Warning Health = 2
	// Critical: a check failed its threshold, or a TTL lapsed.
	Critical Health = 3
)

// String is the health's name in every API: "passing", "warning",
// "critical".
func (h Health) String() string {
	switch h {
	case Passing:
		return "passing"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return "unknown"
}

// Protocols are the wire protocols an instance may declare, in the order
// the docs list them. Anything else is refused (InvalidArgument naming
// "protocol").
var Protocols = []string{"grpc", "http", "https", "tcp", "udp"}

// CheckKind is how the agent of the instance's node decides its health.
type CheckKind string

const (
	// CheckTTL: the instance's session reports its health (UpdateTTL)
	// at least every TTL; a lapse turns it critical.
	CheckTTL CheckKind = "ttl"
	// CheckHTTP: GET Target; 2xx passes, 429 warns, anything else fails.
	CheckHTTP CheckKind = "http"
	// CheckTCP: a TCP connect to Target passes.
	CheckTCP CheckKind = "tcp"
	// CheckGRPC: the standard gRPC health protocol (grpc.health.v1) on
	// Target; SERVING passes.
	CheckGRPC CheckKind = "grpc"
)

// Check is one health check of an instance, run by the agent of the node
// its session lives on (never through Raft: only the resulting health
// changes are replicated).
type Check struct {
	Kind CheckKind
	// Target is the URL (http) or host:port (tcp, grpc); empty means the
	// instance's endpoint (http: "http://ENDPOINT/").
	Target string
	// Interval between runs and Timeout of each (http, tcp, grpc).
	Interval, Timeout time.Duration
	// TTL of a ttl check.
	TTL time.Duration
	// SuccessesBeforePassing and FailuresBeforeCritical damp flapping:
	// the health changes only after that many consecutive results (0 = 1).
	SuccessesBeforePassing, FailuresBeforeCritical int
}

// Registration is what an application announces: one instance of a
// service, owned by its session (PID), which ends with the session exactly
// as names do.
type Registration struct {
	Service  string // required; the name rules of internal/wire
	ID       string // unique within Service; empty = the session's PID
	Endpoint string // host:port, required
	Protocol string // one of Protocols; empty = "tcp"
	Type     string // free-form kind of the instance (e.g. "worker")
	Tags     []string
	Groups   []string
	Meta     map[string]string
	Checks   []Check
}

// Instance is a registered instance as every node sees it.
type Instance struct {
	Service, ID, Endpoint, Protocol, Type string
	Tags, Groups                          []string
	Meta                                  map[string]string
	// Checks are the instance's checks as registered (run by the agent of
	// Node).
	Checks []Check
	// PID is the owning session ("<node>/<session-id>"); Node its node.
	PID, Node string
	Health    Health
	// Output is the last check's output that changed the health
	// (bounded), for operators.
	Output string
	// RegisteredAt is when the registration was applied (the proposer's
	// clock); LastSeen the last time its agent saw it alive (a passing or
	// warning check, a TTL update), replicated at most every
	// Config.LastSeenInterval. A refresh of LastSeen alone changes neither
	// ModifyIndex nor the index of a query: it would wake every blocking
	// query each interval for no change that matters to discovery.
	RegisteredAt, LastSeen time.Time
	// CreateIndex and ModifyIndex are the Raft indexes of the entries that
	// created the instance and last changed it (Consul's model).
	CreateIndex, ModifyIndex uint64
}

// Filter selects instances. Empty fields match everything.
type Filter struct {
	Service string // exact service name
	Tag     string // instances carrying this tag
	Group   string // instances in this group
	// PassingOnly keeps passing instances only (DNS, resolvers).
	PassingOnly bool
}

// ServiceSummary is one service in a listing of services.
type ServiceSummary struct {
	Name                       string
	Passing, Warning, Critical int
	Tags                       []string // union, sorted
}
