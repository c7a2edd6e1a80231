// Package wire is the vocabulary every domain speaks (DESIGN §2): the
// uvarint/string codec of replicated commands, results, queries and
// snapshots; the command envelope's header; the (code, detail) form in which
// a refusal crosses Raft; and the validation of the identifiers every domain
// shares (PIDs, node names, names). It has no state and no goroutines, and
// imports nothing of ours.
//
// The encodings here are wire formats written to the Raft log and to
// snapshots: an existing byte never changes meaning.
package wire
