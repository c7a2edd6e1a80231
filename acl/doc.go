// Package acl is access control, a domain like kv and locks (DESIGN §2):
// policies (lists of rules over a resource and a name prefix) and tokens
// (a secret that carries policies), replicated in a deterministic table
// (table.go, replicated.go) with typed commands (commands.go), the rule
// algebra that turns a token's policies into allow or deny (authorizer.go),
// and the service that creates and resolves them (service.go).
//
// A token's secret is never stored: the table keeps its SHA-256, and
// resolving a secret hashes it and looks the hash up in the local replica,
// so a policy change is in force on a node as soon as that node applies
// it. The API doors (package api) resolve the caller's secret on every
// request and ask the authorizer before they act.
package acl
