package main

import "github.com/conclave-dev/conclave/api"

// truncate quotes a user's input for an error line, cut past api.MaxEcho
// bytes: "aaaa…" (10240 bytes). The rules for error text live in one place,
// api.CleanMessage and its helpers, shared with the agent's answers.
func truncate(s string) string { return api.Truncate(s) }

// errorLine is the one line run prints for a failed command: a multi-line
// error (config validation joins one line per problem) folded with "; ",
// and every long quoted input cut, whoever quoted it.
func errorLine(err error) string {
	return api.TruncateQuoted(oneLine(err.Error()))
}
