// Command conclave is the one conclave binary: `conclave agent` runs a node
// (the cluster plus its gRPC and HTTP servers), and the other verbs are
// operator/client commands that talk to an agent's gRPC API through the Go
// SDK (api/client): members, raft status, kv get|put|delete|list,
// lock acquire|run|release|inspect|list, name register|run|unregister|
// lookup|list|watch, service register|run|deregister|list|show|watch,
// pg join|leave|broadcast|members|groups|monitor,
// keyring list|install|use|remove, operator admit and leave. `keyring
// generate` (a new random gossip key), `tls ca create` and `tls cert
// create` (PEM files) talk to no agent; `version` (also --version) prints
// the version and commit stamped at build (version.go), and `completion`
// is cobra's. Client verbs dial TLS when given a CA (--ca-file or
// CONCLAVE_CACERT), presenting --cert-file/--key-file.
//
// Every failure exits non-zero with one line `conclave: <reason>` on
// stderr; client verbs print gRPC errors as `<Code>: <message>`, the
// message cleaned by api.CleanMessage, and a long input is cut wherever it
// is quoted. An unknown subcommand of any group and a wrong argument count
// are failures too (args.go), naming what is missing or extra. Output is
// a table (text/tabwriter, upper-case headers) or, with -o json, JSON with
// snake_case fields whose shape does not depend on the values. `lock run`,
// `name run` and `service run` exit with their command's status instead.
//
// Goroutines: the agent runs the API server's Serve in one goroutine it
// waits for before exiting. `lock acquire`, `lock run`, `name register`
// and `name run` hold a session (the SDK's two goroutines, ended by
// Session.Close), watch their lock or name in one goroutine and, while
// acquiring or registering, watch for a signal in another; the two `run`
// verbs also reap their command in one. `service register` and `service
// run` do the same, watching their session's end (service.go). `pg join` holds a session, `pg
// monitor` a GroupMonitor (one SDK goroutine, ended by Close), and `name
// watch` and `service watch` a watch stream, with a goroutine that cancels
// it on a signal. Each is waited for before the verb returns, except the
// signal watchers of the name and service verbs, which end when the verb's ctx is cancelled as it
// returns. Everything else runs on main.
package main
