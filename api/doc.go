// Package api serves a conclave node to the outside world: the gRPC services
// of proto package conclave.v1 (Cluster, KV, Session, Lock, Names, Groups,
// Registry, Keyring) on api.grpc_addr (default 127.0.0.1:7940), and on api.http_addr
// (default 127.0.0.1:7941) /metrics, the health checks
// (/v1/health/live, /v1/health/ready), the JSON REST API (/v1/...,
// docs/rest.md) and the status page (/ui/).
//
// It owns the translation between the wire and the node: request
// validation the node does not do (enum values, empty PIDs, negative
// durations, field combinations), the mapping of cluster's sentinel errors
// to gRPC status codes (DESIGN §13), per-method request metrics, and the
// Prometheus gauges read from the node at scrape time. It owns no cluster
// state: New takes a Services, one small interface per service (ClusterNode,
// KVNode, SessionNode, LockNode, NameNode, GroupNode, RegistryNode,
// KeyringNode, AdmitNode, HealthNode), each declared beside the handlers that call it. A
// nil field is a service the Server does not serve; ServicesOf fills every
// field from a *cluster.Node.
//
// Sessions: one Session.Connect stream is one session. The stream's end
// (the client closes or goes away, the server stops) closes the session,
// which releases everything it held; a session whose TTL lapses ends the
// stream with Aborted.
//
// Goroutines: gRPC and net/http call the handlers concurrently, one
// goroutine per request; the handlers call the services concurrently. Each
// Connect stream adds one goroutine that receives the client's keepalives
// while the handler sends events. Names.Watch, Groups.Monitor and
// Registry.Watch streams are served on their handler goroutines (a
// Registry.Watch adds one goroutine that ends its wait when the server
// stops, and waits for it) and end, like the session
// streams, when Serve stops. Server.Serve runs both servers, ends the
// streams when it stops and returns only after every handler and
// stream goroutine has finished, so a Server leaves no goroutine behind
// once Serve has returned (or, if Serve never ran, once Close has).
//
// Security (docs/api-security.md): with Config.TLS both doors serve TLS
// with the node's certificate, and with Config.VerifyIncoming they refuse at
// the handshake any client without a certificate of the CA. On a loopback
// HTTP bind, hostGuard refuses mutations whose Host is not a name of the
// agent (DNS rebinding); no GET route mutates.
//
// DNS (dns.go, dns_answer.go; docs/dns.md): DNSServer answers
// NAME.service.DOMAIN and its tag and RFC 2782 forms from a DNSRegistry
// (the registry's local replica) on UDP and TCP, read-only and without
// tokens. It is a server of its own beside Server, with its own Serve:
// miekg/dns runs one goroutine per UDP query and per TCP connection, and
// Serve waits for them before it returns.
//
// The Go SDK is in api/client, the generated code in api/conclavepb.
package api
