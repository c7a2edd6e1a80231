// Package api serves a conclave node to the outside world: the gRPC services
// of proto package conclave.v1 (Cluster, KV) on api.grpc_addr (default
// 127.0.0.1:7940) and the HTTP endpoints (/metrics, /v1/health/live; REST
// and the status page later) on api.http_addr (default 127.0.0.1:7941).
//
// It owns the translation between the wire and the node: request
// validation the node does not do (enum values, field combinations), the
// mapping of cluster's sentinel errors to gRPC status codes (DESIGN §13),
// per-method request metrics, and the Prometheus gauges read from the node
// at scrape time. It owns no cluster state: everything goes through the Node
// interface, which *cluster.Node satisfies.
//
// Goroutines: gRPC and net/http call the handlers concurrently, one
// goroutine per request; the handlers call Node concurrently. Server.Serve
// runs both servers and returns only after both have stopped, so a Server
// leaves no goroutine behind once Serve has returned (or, if Serve never
// ran, once Close has).
//
// The Go SDK is in api/client, the generated code in api/conclavepb.
package api
