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
type logWriter struct {
	log zerolog.Logger
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
	w.log.WithLevel(level).Str("detail", line).Msg("memberlist")
	return n, nil
}
