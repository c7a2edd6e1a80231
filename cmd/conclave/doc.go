// Command conclave is the one conclave binary: `conclave agent` runs a node
// (the cluster plus its gRPC and HTTP servers), and the other verbs are
// operator/client commands that talk to an agent's gRPC API through the Go
// SDK (api/client): members, raft status, kv get|put|delete|list, leave.
//
// Every failure exits non-zero with one line `conclave: <reason>` on
// stderr; client verbs print gRPC errors as `<Code>: <message>`. Output is
// a table (text/tabwriter, upper-case headers) or, with -o json, JSON with
// snake_case fields whose shape does not depend on the values.
//
// Goroutines: the agent runs the API server's Serve in one goroutine it
// waits for before exiting; everything else runs on main.
package main
