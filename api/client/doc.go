// Package client is the Go SDK for a conclave agent's gRPC API: membership,
// Raft status, leave and the replicated KV store.
//
// It imports only the generated api/conclavepb and grpc, so an application
// that embeds it pulls in neither Raft nor memberlist. Results come back as
// this package's plain types (Member, RaftStatus, KVEntry), converted from
// the protobuf messages.
//
// Errors are the gRPC status errors as the server sent them: test them with
// IsNotFound, IsVersionMismatch and IsUnavailable, or status.Code. A Client
// is safe for concurrent use; it owns one grpc.ClientConn, released by Close.
package client
