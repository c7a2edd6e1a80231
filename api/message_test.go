package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/cluster"
)

func TestCleanMessage(t *testing.T) {
	long := strings.Repeat("k", 10240)
	tests := map[string]struct {
		code codes.Code
		in   string
		want string
	}{
		"wrap chain": {codes.Aborted,
			`compare-and-set "counter": cluster: version mismatch: key "counter" is at version 12, want 0: kv: version mismatch`,
			`compare-and-set "counter": version mismatch: key "counter" is at version 12, want 0`},
		"code restated first": {codes.InvalidArgument,
			"cluster: invalid argument: locks: invalid argument: name: is 10240 bytes, the limit is 256",
			"name: is 10240 bytes, the limit is 256"},
		"code restated later is kept": {codes.NotFound,
			`get "a": cluster: not found: key "a"`, `get "a": not found: key "a"`},
		"only the code's words": {codes.Unavailable, "cluster: unavailable", "unavailable"},
		"joined lines": {codes.InvalidArgument,
			"cluster: invalid argument: key: must not be empty\ncluster: invalid argument: value: 600000 bytes, the limit is 524288",
			"key: must not be empty; value: 600000 bytes, the limit is 524288"},
		"key holding separators": {codes.NotFound,
			`get "a: cluster: b": cluster: not found: key "a: cluster: b"`, `get "a: cluster: b": not found: key "a: cluster: b"`},
		"long input": {codes.NotFound, fmt.Sprintf("cluster: not found: key %q", long),
			`key "` + strings.Repeat("k", 64) + `"… (10240 bytes)`},
		"escaped quote inside": {codes.NotFound, `key "a\"b": kv: not found`, `key "a\"b": not found`},
		"unclosed quote":       {codes.Internal, `bad "abc: def`, `bad "abc: def`},
		"too large": {codes.ResourceExhausted, "grpc: received message larger than max (5000010 vs. 4194304)",
			"message too large: 5000010 bytes, the limit is 4194304"},
		"too large to send": {codes.ResourceExhausted, "grpc: trying to send message larger than max (9 vs. 8)",
			"message too large: 9 bytes, the limit is 8"},
		"dial refused": {codes.Unavailable,
			`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`,
			"cannot reach the agent: dial tcp 127.0.0.1:1: connect: connection refused"},
		"handshake": {codes.Unavailable,
			`connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`,
			"TLS handshake failed: tls: first record does not look like a TLS handshake"},
		"other code keeps grpc text": {codes.Internal, "grpc: received message larger than max (1 vs. 0)",
			"grpc: received message larger than max (1 vs. 0)"},
		"empty": {codes.Unknown, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := CleanMessage(tc.code, tc.in)
			if got != tc.want {
				t.Fatalf("CleanMessage(%s, %q)\n got %q\nwant %q", tc.code, tc.in, got, tc.want)
			}
			if strings.Contains(got, "\n") {
				t.Fatalf("not one line: %q", got)
			}
		})
	}
}

func TestCleanStatusKeepsCodeAndDetails(t *testing.T) {
	err := statusError(fmt.Errorf("compare-and-set %q: %w: key %q is at version 3, want 0: kv: version mismatch",
		"c", cluster.ErrVersionMismatch, "c"))
	st := status.Convert(cleanStatus(err))
	if st.Code() != codes.Aborted || st.Message() != `compare-and-set "c": version mismatch: key "c" is at version 3, want 0` {
		t.Fatalf("clean status = %v", st)
	}
	plain := errors.New("not a status")
	if cleanStatus(plain) != plain || cleanStatus(nil) != nil {
		t.Fatal("cleanStatus changed a non-status error")
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate(strings.Repeat("é", 40)); got != `"`+strings.Repeat("é", 32)+`"… (80 bytes)` {
		t.Fatalf("Truncate cut inside a rune: %s", got)
	}
	if got := TruncateQuoted(`kv put "` + strings.Repeat("x", 100) + `": key "y"`); got != `kv put "`+strings.Repeat("x", 64)+`"… (100 bytes): key "y"` {
		t.Fatalf("TruncateQuoted = %s", got)
	}
}
