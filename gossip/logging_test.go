package gossip

import (
	"bytes"
	"encoding/json"
	"log"
	"testing"

	"github.com/rs/zerolog"
)

func TestLogWriterMapsLevels(t *testing.T) {
	tests := map[string]struct {
		line, level, detail string
	}{
		"debug":   {"[DEBUG] memberlist: Stream connection from=1.2.3.4", "debug", "Stream connection from=1.2.3.4"},
		"info":    {"[INFO] memberlist: Marking n3 as failed", "info", "Marking n3 as failed"},
		"warn":    {"[WARN] memberlist: Refuting a suspect message (from: n2)", "warn", "Refuting a suspect message (from: n2)"},
		"err":     {"[ERR] memberlist: Failed to send ping", "error", "Failed to send ping"},
		"nolevel": {"Err: Could not set the deadline", "info", "Err: Could not set the deadline"},
		"foreign": {"[WARN] memberlist: ignoring alive message for 'b1': " + ErrForeignCluster.Error() + ": x", "debug", "ignoring alive message for 'b1': " + ErrForeignCluster.Error() + ": x"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			l := log.New(logWriter{log: zerolog.New(&buf)}, "", 0)
			l.Print(tc.line)
			var got map[string]string
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
			}
			if got["level"] != tc.level || got["detail"] != tc.detail || got["message"] != "memberlist" {
				t.Fatalf("got %v, want level=%s detail=%q", got, tc.level, tc.detail)
			}
		})
	}
}

func TestLogWriterCountsRefusedMessages(t *testing.T) {
	lines := map[string]bool{ // line -> counted
		"[ERR] memberlist: Failed to read remote state: number of nodes in header (-1) exceeds limit from=1.2.3.4:5": true,
		"[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted":            true,
		"[ERR] memberlist: Decrypt packet failed: No installed keys could decrypt the message from=1.2.3.4:5":        true,
		"[ERR] memberlist: Failed to decode ping request: EOF":                                                       true,
		"[ERR] memberlist: Failed to send ping: write: connection refused":                                           false,
		"[WARN] memberlist: Failed to decode something at warn level":                                                false,
		"[DEBUG] memberlist: Stream connection from=1.2.3.4:5":                                                       false,
	}
	for line, counted := range lines {
		var c counters
		l := log.New(logWriter{log: zerolog.Nop(), c: &c}, "", 0)
		l.Print(line)
		if got := c.rejectedMessages.Load() == 1; got != counted {
			t.Errorf("%q counted=%v, want %v", line, got, counted)
		}
	}
}
