package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api/client"
)

func jsonKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}

func TestRaftStatusJSONShape(t *testing.T) {
	var buf bytes.Buffer
	// Zero values must not drop keys: the shape is stable.
	if err := printRaftStatus(&printer{w: &buf, json: true}, client.RaftStatus{LastContact: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	want := sorted("node", "state", "term", "leader_id", "leader_addr", "cluster_id", "commit_index",
		"applied_index", "last_index", "last_contact_ms", "servers", "admitted")
	if got := jsonKeys(t, buf.Bytes()); !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if !strings.Contains(buf.String(), `"last_contact_ms": 1500`) || !strings.Contains(buf.String(), `"servers": []`) ||
		!strings.Contains(buf.String(), `"admitted": []`) {
		t.Fatalf("json = %s", buf.String())
	}

	buf.Reset()
	_ = printRaftStatus(&printer{w: &buf, json: true}, client.RaftStatus{Servers: []client.RaftServer{{ID: "a"}}})
	var st struct {
		Servers []json.RawMessage `json:"servers"`
	}
	_ = json.Unmarshal(buf.Bytes(), &st)
	if got := jsonKeys(t, st.Servers[0]); !reflect.DeepEqual(got, sorted("id", "role", "address", "suffrage", "leader", "failure_domain", "priority")) {
		t.Fatalf("server keys %v", got)
	}
}

func TestMembersJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := printMembers(&printer{w: &buf, json: true}, []client.Member{{Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	var ms []json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &ms); err != nil || len(ms) != 1 {
		t.Fatalf("%s: %v", buf.String(), err)
	}
	want := sorted("name", "addr", "state", "failure_domain", "priority", "eligible", "role_hint", "raft_role",
		"internode_addr", "api_addr", "http_addr", "leader", "cluster_id")
	if got := jsonKeys(t, ms[0]); !reflect.DeepEqual(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	buf.Reset()
	_ = printMembers(&printer{w: &buf, json: true}, nil)
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Fatalf("no members = %q, want []", buf.String())
	}
}

func TestMembersTable(t *testing.T) {
	var buf bytes.Buffer
	err := printMembers(&printer{w: &buf}, []client.Member{
		{Name: "b", Addr: "10.0.0.2:7946", State: "alive", RaftRole: "standby", Priority: 200, Eligible: true},
		{Name: "a", Addr: "10.0.0.1:7946", State: "alive", RaftRole: "voter", Leader: true, FailureDomain: "az1", Priority: 100, Eligible: true, APIAddr: "10.0.0.1:7940"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME  ADDR           STATE  RAFT_ROLE  LEADER  FAILURE_DOMAIN  PRIORITY  ELIGIBLE  API_ADDR\n" +
		"a     10.0.0.1:7946  alive  voter      yes     az1             100       yes       10.0.0.1:7940\n" +
		"b     10.0.0.2:7946  alive  standby    no      -               200       yes       -\n"
	if buf.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestKVJSONValue(t *testing.T) {
	tests := map[string]struct {
		value     []byte
		wantValue string // raw JSON of "value"
		wantB64   bool
	}{
		"text":   {[]byte("héllo"), `"héllo"`, false},
		"empty":  {[]byte{}, `""`, false},
		"binary": {[]byte{0xff, 0x00}, `null`, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := printKVGet(&printer{w: &buf, json: true}, client.KVEntry{Key: "k", Value: tc.value, Version: 3, CreateIndex: 2}); err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if string(m["value"]) != tc.wantValue || string(m["version"]) != "3" || string(m["create_index"]) != "2" {
				t.Fatalf("json = %s", buf.String())
			}
			if b64, ok := m["value_base64"]; ok != tc.wantB64 || (ok && string(b64) != `"/wA="`) {
				t.Fatalf("value_base64 = %s (present %v)", b64, ok)
			}
		})
	}
}

func TestDisplayValue(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     "plain",
		"tab\there": `"tab\there"`,
		"\xff":      `"\xff"`,
		"日本":        "日本",
	} {
		if got := displayValue([]byte(in)); got != want {
			t.Errorf("displayValue(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestFailedFormatsStatus(t *testing.T) {
	err := failed(`kv get "a"`, status.Error(codes.NotFound, `cluster: not found: key "a"`))
	// The message is cleaned on the CLI's side too (api.CleanMessage).
	if err.Error() != `kv get "a": NotFound: key "a"` {
		t.Fatalf("got %q", err.Error())
	}
	if !client.IsNotFound(err) {
		t.Fatal("the status is not reachable through the wrapping")
	}
	if got := failed("x", errors.New("plain")).Error(); got != "x: plain" {
		t.Fatalf("plain error = %q", got)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a: bad\nb: worse"); got != "a: bad; b: worse" {
		t.Fatalf("oneLine = %q", got)
	}
}
