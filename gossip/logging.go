package gossip

import (
	"bytes"
	"strings"

	"github.com/rs/zerolog"
)

// logWriter adapts memberlist's *log.Logger output to zerolog. memberlist
// writes lines like "[WARN] memberlist: Refuting a suspect message"; the
// bracketed level becomes the zerolog level and the rest goes in the
// "detail" field under a constant message.
//
// memberlist has no hook for the inbound messages it refuses, only these
// log lines, so the writer also counts them (Stats.RejectedMessages).
type logWriter struct {
	log zerolog.Logger
	c   *counters // nil counts nothing
}

// rejectPrefixes start the lines (after "memberlist: ") that memberlist
// logs when it refuses an inbound packet or stream: undecodable, of an
// unknown type, unencrypted while encryption is on, sealed with a key we do
// not hold, or over its limits (a push/pull header with a negative or huge
// node count). A memberlist upgrade that rewords them shows up in
// TestPushPullBadNodeCount.
var rejectPrefixes = []string{
	"failed to receive:",
	"failed to receive and remove the stream label header",
	"discarding stream with unacceptable label",
	"discarding packet with unacceptable label",
	"Failed to read remote state:",
	"Failed to receive user message:",
	"Received invalid msgType",
	"Decrypt packet failed:",
	"missing message type byte",
	"msg type (",
	"Message type (",
	"Failed to decode ",
	"Failed to decompress payload:",
}

// Write is called by log.Logger once per line; it never fails, since a
// logging error must not break gossip.
func (w logWriter) Write(p []byte) (int, error) {
	n := len(p)
	line := string(bytes.TrimSpace(p))
	level := zerolog.InfoLevel
	if strings.HasPrefix(line, "[") {
		if end := strings.IndexByte(line, ']'); end > 0 {
			switch line[1:end] {
			case "TRACE", "DEBUG":
				level = zerolog.DebugLevel
			case "INFO":
				level = zerolog.InfoLevel
			case "WARN":
				level = zerolog.WarnLevel
			case "ERR", "ERROR":
				level = zerolog.ErrorLevel
			}
			line = strings.TrimSpace(line[end+1:])
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	// memberlist logs every alive message and merge our cluster-ID guard
	// refuses; the guard already reports them rate-limited, so demote these
	// lines lest a foreign cluster sharing a seed flood the log.
	if strings.Contains(line, ErrForeignCluster.Error()) {
		level = zerolog.DebugLevel
	}
	if w.c != nil && level == zerolog.ErrorLevel {
		for _, p := range rejectPrefixes {
			if strings.HasPrefix(line, p) {
				w.c.rejectedMessages.Add(1)
				break
			}
		}
	}
	w.log.WithLevel(level).Str("detail", line).Msg("memberlist")
	return n, nil
}
