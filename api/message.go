package api

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxEcho bounds how much of a caller's input (a key, a name) an error
// message repeats: enough to recognise it, not a 10 KB paste.
const MaxEcho = 64

// CleanMessage is the one place that turns a failed call's text into the
// line a user reads, for the gRPC and REST answers and for the CLI:
//
//   - one line: the lines of a joined error are joined with "; ";
//   - no wrap chain: a package's name ("cluster", "kv", "locks", ...) as a
//     prefix is dropped, a phrase said twice is said once, and a leading
//     phrase that only restates the code ("invalid argument" after
//     InvalidArgument) is dropped;
//   - long inputs cut: a quoted string past MaxEcho bytes keeps its first
//     MaxEcho bytes and says how long it was (Truncate);
//   - grpc's transport texts said plainly ("grpc: received message larger
//     than max (5000010 vs. 4194304)" is "message too large: 5000010
//     bytes, the limit is 4194304").
//
// So "compare-and-set \"c\": cluster: version mismatch: key \"c\" is at
// version 12, want 0: kv: version mismatch" reads "compare-and-set \"c\":
// version mismatch: key \"c\" is at version 12, want 0". The code is not
// part of the message; callers print it in front ("Aborted: ...").
func CleanMessage(code codes.Code, msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, cleanLine(code, l))
		}
	}
	return strings.Join(out, "; ")
}

// cleanStatus applies CleanMessage to a status error, keeping its code
// and details; anything else is returned as is.
func cleanStatus(err error) error {
	st, ok := status.FromError(err)
	if err == nil || !ok {
		return err
	}
	msg := CleanMessage(st.Code(), st.Message())
	if msg == st.Message() {
		return err
	}
	p := st.Proto()
	p.Message = msg
	return status.FromProto(p).Err()
}

// isPackageName reports whether a segment is only the name one of our
// packages puts in front of its errors ("cluster: not found"). Field names
// ("key", "name", "pid") are not: they say what is wrong.
func isPackageName(seg string) bool {
	switch seg {
	case "cluster", "kv", "locks", "naming", "pg", "raftcore", "gossip", "internode", "api", "config":
		return true
	}
	return false
}

// transportText says grpc's own messages plainly; ok is false for any
// other text.
func transportText(code codes.Code, line string) (string, bool) {
	switch code {
	case codes.ResourceExhausted:
		// grpc: received message larger than max (5000010 vs. 4194304)
		for _, p := range []string{"grpc: received message larger than max ", "grpc: trying to send message larger than max "} {
			var got, limit int64
			if rest, ok := strings.CutPrefix(line, p); ok {
				if _, err := fmt.Sscanf(rest, "(%d vs. %d)", &got, &limit); err == nil {
					return fmt.Sprintf("message too large: %d bytes, the limit is %d", got, limit), true
				}
			}
		}
	case codes.Unavailable:
		// connection error: desc = "transport: Error while dialing: dial tcp ...: connection refused"
		q, ok := strings.CutPrefix(line, "connection error: desc = ")
		if !ok {
			break
		}
		desc, err := strconv.Unquote(q)
		if err != nil {
			break
		}
		if rest, ok := strings.CutPrefix(desc, "transport: Error while dialing: "); ok {
			return "cannot reach the agent: " + rest, true
		}
		if rest, ok := strings.CutPrefix(desc, "transport: authentication handshake failed: "); ok {
			return "TLS handshake failed: " + rest, true
		}
		return strings.TrimPrefix(desc, "transport: "), true
	}
	return "", false
}

func cleanLine(code codes.Code, line string) string {
	if plain, ok := transportText(code, line); ok {
		return plain
	}
	segs := splitSegments(line)
	kept := make([]string, 0, len(segs))
	seen := make(map[string]bool, len(segs))
	restated := ""
	for _, s := range segs {
		key := strings.ToLower(strings.TrimSpace(s))
		switch {
		case key == "" || isPackageName(key) || seen[key]:
			continue
		case len(kept) == 0 && restatesCode(code, key):
			restated = s
			continue
		}
		seen[key] = true
		kept = append(kept, TruncateQuoted(s))
	}
	if len(kept) == 0 {
		// Nothing but the code's own words: keep them rather than
		// answer with an empty message.
		return restated
	}
	return strings.Join(kept, ": ")
}

// restatesCode reports whether phrase only says what code says
// ("not found" for NotFound, "invalid argument" for InvalidArgument).
func restatesCode(code codes.Code, phrase string) bool {
	return strings.ReplaceAll(phrase, " ", "") == strings.ToLower(code.String())
}

// splitSegments splits line at ": " outside Go-quoted strings, so that a
// key holding ": " stays whole.
func splitSegments(line string) []string {
	var segs []string
	start := 0
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '"':
			i = quoteEnd(line, i) - 1
		case line[i] == ':' && i+1 < len(line) && line[i+1] == ' ':
			segs = append(segs, line[start:i])
			start = i + 2
			i++
		}
	}
	return append(segs, line[start:])
}

// quoteEnd returns the index just past the Go-quoted string that starts at
// line[i] == '"', or len(line) if it is not closed.
func quoteEnd(line string, i int) int {
	for j := i + 1; j < len(line); j++ {
		switch line[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(line)
}

// TruncateQuoted cuts every Go-quoted string in s that holds more than
// MaxEcho bytes (Truncate); the CLI applies it to its whole error line,
// which quotes the caller's key or name in front of the agent's message.
func TruncateQuoted(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '"' {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := quoteEnd(s, i)
		q := s[i:end]
		if v, err := strconv.Unquote(q); err == nil && len(v) > MaxEcho {
			q = Truncate(v)
		}
		b.WriteString(q)
		i = end
	}
	return b.String()
}

// Truncate quotes s for an error message; past MaxEcho bytes it keeps the
// first MaxEcho (cut on a rune boundary) and says how long s was:
// "aaaa…" (10240 bytes).
func Truncate(s string) string {
	if len(s) <= MaxEcho {
		return strconv.Quote(s)
	}
	cut := MaxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
