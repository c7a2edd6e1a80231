// Command conclave is the one conclave binary: `conclave agent` runs a node
// (the cluster plus its gRPC and HTTP servers), and the other verbs are
// operator/client commands that talk to an agent's gRPC API through the Go
// SDK (api/client): members, raft status, kv get|put|delete|list,
// lock acquire|run|release|inspect|list, pg join|leave|broadcast|members|
// groups|monitor, leave; `tls ca create` / `tls cert create`, which
// write PEM files and talk to no agent; and `version` (also --version), the
// version and commit stamped at build (version.go). Client verbs dial TLS when given a
// CA (--ca-file or CONCLAVE_CACERT), presenting --cert-file/--key-file.
//
// Every failure exits non-zero with one line `conclave: <reason>` on
// stderr; client verbs print gRPC errors as `<Code>: <message>`, the
// message cleaned by api.CleanMessage, and a long input is cut wherever it
// is quoted. An unknown subcommand of any group and a wrong argument count
// are failures too (args.go), naming what is missing or extra. Output is
// a table (text/tabwriter, upper-case headers) or, with -o json, JSON with
// snake_case fields whose shape does not depend on the values. `lock run`
// exits with its command's status instead.
//
// Goroutines: the agent runs the API server's Serve in one goroutine it
// waits for before exiting. `lock acquire` and `lock run` hold a session
// (the SDK's two goroutines, ended by Session.Close), watch their lock in
// one goroutine and, while acquiring, watch for a signal in another; `lock
// run` also reaps its command in one. `pg join` holds a session and `pg
// monitor` a GroupMonitor (one SDK goroutine, ended by Close). Each is
// waited for before the verb returns. Everything else runs on main.
package main
