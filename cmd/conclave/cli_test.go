package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/api"
)

// cli runs the conclave command line against an API server backed by a
// fake node.
type cli struct {
	t    *testing.T
	node *fakeNode
	addr string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	node := newFakeNode("n1")
	srv, err := api.New(api.DefaultLocalConfig(), node.services())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("api server did not stop")
		}
	})
	return &cli{t: t, node: node, addr: srv.GRPCAddr().String()}
}

// run runs args with CONCLAVE_ADDR pointing at the server.
func (c *cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut syncBuffer
	e := env{lookup: func(k string) (string, bool) {
		if k == "CONCLAVE_ADDR" {
			return c.addr, true
		}
		return "", false
	}}
	code = run(context.Background(), args, e, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(stdin, args...)
	if code != 0 || errOut != "" {
		c.t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
	}
	return out
}

func (c *cli) fails(args ...string) string {
	c.t.Helper()
	code, _, errOut := c.run("", args...)
	if code == 0 {
		c.t.Fatalf("%v succeeded, want failure", args)
	}
	if !strings.HasPrefix(errOut, "conclave: ") || strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
		c.t.Fatalf("%v: stderr %q, want exactly one line `conclave: ...`", args, errOut)
	}
	return strings.TrimSuffix(errOut, "\n")
}

func TestKVCommands(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "kv", "put", "app/a", "hello"); !strings.HasPrefix(out, "KEY") || !strings.Contains(out, "app/a") {
		t.Fatalf("put table = %q", out)
	}
	if out := c.ok("", "kv", "get", "app/a"); out != "hello\n" {
		t.Fatalf("get table = %q, want just the value", out)
	}
	// VALUE "-" reads stdin, bytes and all.
	c.ok("line1\nline2\x00", "kv", "put", "app/b", "-")
	var e kvJSON
	if err := json.Unmarshal([]byte(c.ok("", "kv", "get", "app/b", "-o", "json", "--mode", "consistent")), &e); err != nil {
		t.Fatal(err)
	}
	if e.Key != "app/b" || e.Value == nil || *e.Value != "line1\nline2\x00" || e.Version == 0 || e.CreateIndex == 0 {
		t.Fatalf("get json = %+v", e)
	}

	// Compare-and-set.
	msg := c.fails("kv", "put", "app/a", "x", "--cas", "0")
	if msg != `conclave: kv put "app/a": Aborted: version mismatch: key "app/a" is at version 2` {
		t.Fatalf("cas 0 on an existing key: %q", msg)
	}
	var put kvJSON
	if err := json.Unmarshal([]byte(c.ok("", "kv", "put", "new", "v", "--cas", "0", "-o", "json")), &put); err != nil {
		t.Fatal(err)
	}
	c.ok("", "kv", "put", "new", "v2", "--cas", itoa(put.Version))

	list := c.ok("", "kv", "list", "app/", "--limit", "5", "--mode", "stale")
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "KEY") || !strings.HasPrefix(lines[1], "app/a") ||
		!strings.Contains(lines[2], `"line1\nline2\x00"`) {
		t.Fatalf("list table = %q", list)
	}
	var entries []kvJSON
	if err := json.Unmarshal([]byte(c.ok("", "kv", "list", "--limit", "1", "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Key != "app/a" {
		t.Fatalf("list json = %+v", entries)
	}
	if out := c.ok("", "kv", "list", "nothing/", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty list json = %q, want []", out)
	}

	if msg := c.fails("kv", "delete", "app/a", "--cas", "1"); !strings.Contains(msg, "Aborted: ") {
		t.Fatalf("delete at a wrong version: %q", msg)
	}
	if msg := c.fails("kv", "delete", "app/a", "--cas", "0"); !strings.Contains(msg, "--cas 0") {
		t.Fatalf("delete --cas 0: %q", msg)
	}
	if out := c.ok("", "kv", "delete", "app/a"); out != "deleted \"app/a\"\n" {
		t.Fatalf("delete = %q", out)
	}
	msg = c.fails("kv", "get", "app/a")
	if msg != `conclave: kv get "app/a": NotFound: key "app/a"` {
		t.Fatalf("get missing: %q", msg)
	}
}

func TestClusterCommands(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "members")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "n1 ") || !strings.HasPrefix(lines[2], "n2 ") {
		t.Fatalf("members table (sorted by name) = %q", out)
	}
	var members []map[string]any
	if err := json.Unmarshal([]byte(c.ok("", "members", "-o", "json")), &members); err != nil {
		t.Fatal(err)
	}
	if len(members) != 2 || members[0]["name"] != "n1" || members[0]["leader"] != true {
		t.Fatalf("members json = %v", members)
	}

	out = c.ok("", "raft", "status")
	if !strings.Contains(out, "State:") || !strings.Contains(out, "leader") || !strings.Contains(out, "ID ") {
		t.Fatalf("raft status table = %q", out)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(c.ok("", "raft", "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if st["node"] != "n1" || st["term"] != float64(2) {
		t.Fatalf("raft status json = %v", st)
	}

	if out := c.ok("", "leave", "-o", "json"); !strings.Contains(out, `"node": "n1"`) {
		t.Fatalf("leave json = %q", out)
	}
}

func TestOperatorAdmit(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "operator", "admit", "n4"); out != "node \"n4\" admitted\n" {
		t.Fatalf("admit = %q", out)
	}
	if out := c.ok("", "operator", "admit", "n5", "-o", "json"); !strings.Contains(out, `"admitted": true`) {
		t.Fatalf("admit json = %q", out)
	}
	if msg := c.fails("operator", "admit", "a/b"); !strings.Contains(msg, "conclave: operator admit: InvalidArgument: ") ||
		!strings.Contains(msg, "node: bad name") {
		t.Fatalf("bad name: stderr %q", msg)
	}
	if msg := c.fails("operator", "admit"); msg != "conclave: operator admit: missing NODE (usage: conclave operator admit NODE)" {
		t.Fatalf("no node: stderr %q", msg)
	}
	if out := c.ok("", "raft", "status"); !strings.Contains(out, "Admitted:       n4, n5\n") {
		t.Fatalf("raft status does not list the admitted servers: %q", out)
	}
	var st struct {
		Admitted []string `json:"admitted"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "raft", "status", "-o", "json")), &st); err != nil || strings.Join(st.Admitted, " ") != "n4 n5" {
		t.Fatalf("raft status json admitted %v, %v", st.Admitted, err)
	}
}

func TestClientFlagErrors(t *testing.T) {
	c := newCLI(t)
	tests := map[string]struct {
		args []string
		want string
	}{
		"bad output":     {[]string{"members", "-o", "yaml"}, `invalid --output "yaml"`},
		"bad mode":       {[]string{"kv", "get", "k", "--mode", "fresh"}, `invalid --mode "fresh"`},
		"missing key":    {[]string{"kv", "get"}, "kv get: missing KEY (usage: conclave kv get KEY)"},
		"too many":       {[]string{"kv", "list", "a", "b"}, `kv list: unexpected argument "b" (usage: conclave kv list [PREFIX])`},
		"unknown verb":   {[]string{"frobnicate"}, `unknown command "frobnicate"`},
		"unknown flag":   {[]string{"members", "--nope"}, "unknown flag: --nope"},
		"negative limit": {[]string{"kv", "list", "--limit", "-1"}, "--limit"},
		"zero timeout":   {[]string{"members", "--timeout", "0s"}, "invalid --timeout"},
		"no agent":       {[]string{"members", "--addr", "127.0.0.1:1", "--timeout", "2s"}, "conclave: members: Unavailable: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c.t = t
			if msg := c.fails(tc.args...); !strings.Contains(msg, tc.want) {
				t.Fatalf("stderr %q, want it to contain %q", msg, tc.want)
			}
		})
	}
}

func TestAgentNeedsConfigOrDev(t *testing.T) {
	c := newCLI(t)
	if msg := c.fails("agent"); msg != "conclave: agent: --config FILE or --dev is required" {
		t.Fatalf("stderr %q", msg)
	}
}

func itoa(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestErrorsAreOneCleanLine: a failure is the code and the domain message,
// without the wrap chain, a long input echoed whole, or grpc's own text.
func TestErrorsAreOneCleanLine(t *testing.T) {
	c := newCLI(t)
	c.ok("", "kv", "put", "counter", "1")
	long := strings.Repeat("n", 10240)
	cut := `"` + strings.Repeat("n", 64) + `"… (10240 bytes)`
	tests := map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"cas": {"", []string{"kv", "put", "counter", "2", "--cas", "7"},
			`conclave: kv put "counter": Aborted: version mismatch: key "counter" is at version 2`},
		"long key": {"", []string{"kv", "get", long},
			`conclave: kv get ` + cut + `: NotFound: key ` + cut},
		"too large": {strings.Repeat("v", api.DefaultLocalConfig().MaxRecvMsgBytes+1), []string{"kv", "put", "big", "-"},
			`conclave: kv put "big": ResourceExhausted: message too large: `},
		"no agent": {"", []string{"members", "--addr", "127.0.0.1:1", "--timeout", "2s"},
			"conclave: members: Unavailable: cannot reach the agent: dial tcp 127.0.0.1:1: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _, msg := c.run(tc.stdin, tc.args...)
			if code != 1 || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, tc.want) {
				t.Fatalf("exit %d, stderr %q\nwant one line starting %q", code, msg, tc.want)
			}
			for _, chain := range []string{"cluster: ", "kv: ", "grpc: ", "desc = "} {
				if strings.Contains(msg, chain) {
					t.Fatalf("stderr %q carries %q", msg, chain)
				}
			}
			if len(msg) > 400 {
				t.Fatalf("stderr is %d bytes: a long input was echoed whole", len(msg))
			}
		})
	}
}

// TestKVGetRawAndBinary: --raw gives back exactly the bytes kv put stored;
// plain kv get prints text with one newline and quotes binary.
func TestKVGetRawAndBinary(t *testing.T) {
	c := newCLI(t)
	var all []byte
	for b := 0; b < 256; b++ {
		all = append(all, byte(b))
	}
	binary := string(all) + "\xff\xfe\n"
	tests := map[string]struct {
		value, plain string
	}{
		"binary":         {binary, strconv.Quote(binary) + "\n"},
		"text":           {"hello", "hello\n"},
		"ends with \\n":  {"a\nb\n", "a\nb\n"},
		"tabs and utf-8": {"x\ty 日本", "x\ty 日本\n"},
		"escape byte":    {"red\x1b[31m", strconv.Quote("red\x1b[31m") + "\n"},
		"empty":          {"", "\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c.t = t
			c.ok(tc.value, "kv", "put", "k", "-")
			if got := c.ok("", "kv", "get", "k", "--raw"); got != tc.value {
				t.Fatalf("--raw = %q, want the stored bytes %q", got, tc.value)
			}
			if got := c.ok("", "kv", "get", "k"); got != tc.plain {
				t.Fatalf("kv get = %q, want %q", got, tc.plain)
			}
		})
	}
	c.t = t
	if msg := c.fails("kv", "get", "k", "--raw", "-o", "json"); !strings.Contains(msg, "--raw") || !strings.Contains(msg, "-o json") {
		t.Fatalf("--raw with -o json: %q", msg)
	}
}
