// Package client is the Go SDK for a conclave agent's gRPC API: membership,
// Raft status, leave, the replicated KV store, sessions, locks and process
// groups.
//
// It imports only the generated api/conclavepb, grpc and internal/pki (the
// standard library's crypto, for WithTLSFiles), so an application
// that embeds it pulls in neither Raft nor memberlist. Results come back as
// this package's plain types (Member, RaftStatus, KVEntry, LockInfo),
// converted from the protobuf messages.
//
// Locks are held by a Session (Client.Session): one gRPC stream to the
// agent, kept alive by the SDK, whose end releases everything the session
// held. Session.Lock returns a Lock with its fencing token and a Lost
// channel that closes when the lock can no longer be relied on.
//
// Errors are the gRPC status errors as the server sent them: test them with
// IsNotFound, IsVersionMismatch, IsUnavailable, IsLockHeld, IsNotHolder,
// IsPermissionDenied and IsUnauthenticated, or status.Code. With ACLs on,
// WithToken presents a token on every call and stream; Client.ACL manages
// policies and tokens (docs/acl.md). A Client is safe for concurrent use; it owns one
// grpc.ClientConn, released by Close. Each open Session owns two
// goroutines, finished once Session.Close returns. Process groups: a
// Session joins and leaves (Session.Join, Leave, Broadcast; messages arrive
// on Session.Events); Client.Groups broadcasts, lists and monitors. A
// GroupMonitor owns one goroutine, finished once Close returns or its ctx
// ended.
//
// Service registry (docs/registry-client.md): Session.RegisterService
// announces an instance owned by the session; Client.Registry lists,
// watches and deregisters. Client.Resolver is a gRPC resolver for
// conclave:///NAME targets, given to a connection with grpc.WithResolvers
// (never registered globally), with the RoundRobin and LeastRequest service
// configs for grpc-go's own balancers; Client.Picker picks instances for
// other protocols. A Registry watch owns one goroutine, finished once its
// ctx ended; a resolver and a Picker own one each, finished once Close
// returns.
package client
