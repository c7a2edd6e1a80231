package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conclave-dev/conclave/kv"
)

// keys is the fake's keys with values and versions, in key order.
func (c *cli) keys() string {
	es, _ := c.node.KV().List(context.Background(), "", 0, 0)
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%s=%s@%d ", e.Key, e.Value, e.Version)
	}
	return b.String()
}

func TestKVDeletePrefixCommand(t *testing.T) {
	c := newCLI(t)
	for _, k := range []string{"app/1", "app/2", "apq", "b"} {
		c.ok("", "kv", "put", k, "v")
	}
	if out := c.ok("", "kv", "delete", "--prefix", "app/"); out != "deleted 2 keys with prefix \"app/\"\n" {
		t.Fatalf("kv delete --prefix app/ = %q", out)
	}
	if got := c.keys(); !strings.HasPrefix(got, "apq=v@") || strings.Count(got, "=") != 2 {
		t.Fatalf("left: %s", got)
	}
	var out struct {
		Prefix  string
		Deleted int
	}
	if err := json.Unmarshal([]byte(c.ok("", "kv", "delete", "--prefix", "ap", "-o", "json")), &out); err != nil || out.Deleted != 1 || out.Prefix != "ap" {
		t.Fatalf("-o json: %+v, %v", out, err)
	}
	if out := c.ok("", "kv", "delete", "--prefix", "none/"); out != "deleted 0 keys with prefix \"none/\"\n" {
		t.Fatalf("kv delete --prefix none/ = %q", out)
	}
	before := c.keys()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"empty prefix":   {[]string{"kv", "delete", "--prefix", ""}, `conclave: kv delete: invalid --prefix "": deleting every key is refused; give a non-empty prefix`},
		"key and prefix": {[]string{"kv", "delete", "b", "--prefix", "b"}, `conclave: kv delete: unexpected argument "b": --prefix deletes by prefix and takes no KEY`},
		"cas and prefix": {[]string{"kv", "delete", "--prefix", "b", "--cas", "3"}, "--cas is for one KEY"},
		"reserved":       {[]string{"kv", "delete", "--prefix", "_sys/"}, `InvalidArgument: prefix: the prefix "_sys" is reserved`},
		"no key":         {[]string{"kv", "delete"}, "kv delete: missing KEY"},
	} {
		if msg := c.fails(tc.args...); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %q, want %q", name, msg, tc.want)
		}
	}
	if after := c.keys(); after != before {
		t.Fatalf("refused deletes changed the store: %s -> %s", before, after)
	}
}

func TestKVTxnCommand(t *testing.T) {
	c := newCLI(t)
	c.ok("", "kv", "put", "a", "1")
	c.ok("", "kv", "put", "b", "2")
	var a kvJSON
	if err := json.Unmarshal([]byte(c.ok("", "kv", "get", "a", "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"compare":[{"key":"a","version":%d},{"key":"c","version":0}],
		"ops":[{"put":{"key":"a","value":"x"}},{"put":{"key":"c","value_base64":"AP8="}},{"delete":{"key":"b"}},{"delete":{"key":"zz"}}]}`, a.Version)
	out := c.ok(doc, "kv", "txn")
	for _, want := range []string{"OP", "put     a    version ", "put     c    version ", "delete  b    deleted", "delete  zz   not there"} {
		if !strings.Contains(out, want) {
			t.Errorf("kv txn output lacks %q:\n%s", want, out)
		}
	}
	e, _ := c.node.KV().Get(context.Background(), "c", 0)
	if string(e.Value) != "\x00\xff" {
		t.Fatalf("value_base64 stored %q", e.Value)
	}
	before := c.keys()
	// The same document again: compare 0 now fails, and nothing changes.
	path := filepath.Join(t.TempDir(), "txn.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := c.fails("kv", "txn", path)
	if want := fmt.Sprintf(`conclave: kv txn: compare[0] failed: key "a" is at version %d, want version %d; nothing was written`, a.Version+2, a.Version); msg != want {
		t.Fatalf("failed txn: %q\nwant %q", msg, want)
	}
	if after := c.keys(); after != before {
		t.Fatalf("a failed txn changed the store: %s -> %s", before, after)
	}
	var res struct {
		Index uint64
		Ops   []struct {
			Op, Key string
			Version uint64
		}
	}
	if err := json.Unmarshal([]byte(c.ok(`{"ops":[{"put":{"key":"n","value":"v"}}]}`, "kv", "txn", "-", "-o", "json")), &res); err != nil ||
		len(res.Ops) != 1 || res.Ops[0].Op != "put" || res.Ops[0].Version != res.Index || res.Index == 0 {
		t.Fatalf("-o json: %+v, %v", res, err)
	}
	before = c.keys()
	many := make([]string, kv.MaxTxnItems+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"delete":{"key":"k%d"}}`, i)
	}
	for name, tc := range map[string]struct {
		stdin string
		args  []string
		want  string
	}{
		"not json":        {"{", []string{"kv", "txn"}, "kv txn: stdin: not a txn document"},
		"unknown field":   {`{"ops":[{"put":{"key":"a","verison":1}}]}`, []string{"kv", "txn"}, `unknown field "verison"`},
		"no version":      {`{"compare":[{"key":"a"}],"ops":[]}`, []string{"kv", "txn"}, "compare[0]: version is missing"},
		"put and delete":  {`{"ops":[{"put":{"key":"a"},"delete":{"key":"a"}}]}`, []string{"kv", "txn"}, "ops[0]: want exactly one of put or delete"},
		"empty op":        {`{"ops":[{}]}`, []string{"kv", "txn"}, "ops[0]: want exactly one of put or delete"},
		"both values":     {`{"ops":[{"put":{"key":"a","value":"x","value_base64":"eA=="}}]}`, []string{"kv", "txn"}, "ops[0].put: give value or value_base64, not both"},
		"empty":           {`{}`, []string{"kv", "txn"}, "no compare and no op"},
		"too many":        {`{"ops":[` + strings.Join(many, ",") + `]}`, []string{"kv", "txn"}, "InvalidArgument: ops: 0 compares and 65 ops, the limit is 64 together"},
		"a key twice":     {`{"ops":[{"put":{"key":"a"}},{"delete":{"key":"a"}}]}`, []string{"kv", "txn"}, `InvalidArgument: ops[1].key: "a" is also written by ops[0]`},
		"no such file":    {"", []string{"kv", "txn", filepath.Join(t.TempDir(), "none.json")}, "kv txn: open "},
		"two files":       {"", []string{"kv", "txn", "a", "b"}, `kv txn: unexpected argument "b"`},
		"trailing":        {`{"ops":[{"delete":{"key":"a"}}]} {}`, []string{"kv", "txn"}, "trailing data"},
		"reserved op key": {`{"ops":[{"delete":{"key":"_sys/a"}}]}`, []string{"kv", "txn"}, "InvalidArgument: ops[0].key"},
	} {
		code, _, errOut := c.run(tc.stdin, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q, want one line containing %q", name, code, errOut, tc.want)
		}
	}
	if after := c.keys(); after != before {
		t.Fatalf("refused txns changed the store: %s -> %s", before, after)
	}
}

func TestKVExportImport(t *testing.T) {
	src := newCLI(t)
	src.ok("", "kv", "put", "app/text", "hello\nworld")
	src.ok("\x00\xffbin", "kv", "put", "app/bin", "-")
	src.ok("", "kv", "put", "app/empty", "")
	src.ok("", "kv", "put", "other", "o")
	exported := src.ok("", "kv", "export", "--prefix", "app/")
	var doc []map[string]any
	if err := json.Unmarshal([]byte(exported), &doc); err != nil || len(doc) != 3 {
		t.Fatalf("export: %v\n%s", err, exported)
	}
	if doc[0]["key"] != "app/bin" || doc[0]["value"] != nil || doc[0]["value_base64"] != "AP9iaW4=" || doc[2]["value"] != "hello\nworld" {
		t.Fatalf("export shape: %s", exported)
	}

	dst := newCLI(t)
	dst.ok("", "kv", "put", "app/text", "old")
	path := filepath.Join(t.TempDir(), "export.json")
	if err := os.WriteFile(path, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := dst.ok("", "kv", "import", path); out != "imported 3 keys in 1 transaction\n" {
		t.Fatalf("import = %q", out)
	}
	for key, want := range map[string]string{"app/text": "hello\nworld", "app/bin": "\x00\xffbin", "app/empty": ""} {
		if got := dst.ok("", "kv", "get", "--raw", key); got != want {
			t.Errorf("imported %s = %q, want %q", key, got, want)
		}
	}
	if got := dst.keys(); strings.Contains(got, "other") {
		t.Fatalf("import wrote a key the export did not have: %s", got)
	}
	// list -o json is an export document too.
	if out := dst.ok(src.ok("", "kv", "list", "other", "-o", "json"), "kv", "import"); out != "imported 1 key in 1 transaction\n" {
		t.Fatalf("import of a listing = %q", out)
	}
}

// Import cuts its puts into transactions the server takes: 64 keys at
// most, and fewer when the values are large; every batch is one
// transaction (its keys share one version).
func TestKVImportBatches(t *testing.T) {
	c := newCLI(t)
	var entries []string
	for i := range 130 {
		entries = append(entries, fmt.Sprintf(`{"key":"k/%03d","value":"v"}`, i))
	}
	// Two of these do not fit one command.
	big := strings.Repeat("x", kv.MaxValueBytes/2+kv.MaxKeyBytes)
	for i := range 3 {
		entries = append(entries, fmt.Sprintf(`{"key":"big/%d","value":%q}`, i, big))
	}
	out := c.ok("["+strings.Join(entries, ",")+"]", "kv", "import", "-o", "json")
	var res struct{ Imported, Transactions int }
	// 130 small keys: 64, 64, then 2 joined by one big value; each other
	// big value needs its own transaction.
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Imported != 133 || res.Transactions != 5 {
		t.Fatalf("import = %s (%+v, %v), want 133 keys in 5 transactions", out, res, err)
	}
	es, _ := c.node.KV().List(context.Background(), "", 0, 0)
	versions := map[uint64]int{}
	for _, e := range es {
		versions[e.Version]++
	}
	if len(es) != 133 || len(versions) != 5 {
		t.Fatalf("%d keys at %d versions, want 133 at 5: %v", len(es), len(versions), versions)
	}

	before := c.keys()
	for name, tc := range map[string]struct{ stdin, want string }{
		"not an array":  {`{"key":"a"}`, "kv import: stdin: not an export document"},
		"a key twice":   {`[{"key":"a","value":"1"},{"key":"a","value":"2"}]`, `kv import: stdin: [1]: key "a" is also at [0]`},
		"empty key":     {`[{"key":"a","value":"1"},{"key":"","value":"2"}]`, `kv import: stdin: [1] (key ""): invalid argument: ops[0].key: must not be empty`},
		"reserved key":  {`[{"key":"_sys/x","value":"2"}]`, `[0] (key "_sys/x")`},
		"both values":   {`[{"key":"a","value":"1","value_base64":"eA=="}]`, "[0]: give value or value_base64, not both"},
		"unknown field": {`[{"key":"a","vaule":"1"}]`, `unknown field "vaule"`},
		"bad base64":    {`[{"key":"a","value_base64":"!!"}]`, "not an export document"},
	} {
		code, _, errOut := c.run(tc.stdin, "kv", "import")
		if code == 0 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q, want one line containing %q", name, code, errOut, tc.want)
		}
	}
	if after := c.keys(); after != before {
		t.Fatal("refused imports changed the store")
	}
}
