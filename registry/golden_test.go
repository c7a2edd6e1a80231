package registry

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of the registry's wire format")

// TestGoldenWireFormat pins the encodings that reach the Raft log and the
// snapshot (commands, queries, results, the snapshot section): they are
// wire format and must not change by a byte. A deliberate change needs a
// new op or section version, then `go test ./registry -run Golden -update`.
func TestGoldenWireFormat(t *testing.T) {
	r := reg("web", "w1", "10.0.0.1:80", "v1")
	r.Meta = map[string]string{"b": "2", "a": "1"}
	r.Groups = []string{"blue"}
	r.Checks = []Check{{Kind: CheckHTTP, Target: "http://10.0.0.1:80/health", Interval: 10 * time.Second, Timeout: time.Second,
		SuccessesBeforePassing: 2, FailuresBeforeCritical: 3}}
	tb := NewTable()
	registered, _ := tb.Apply(7, opRegister, mustParse(t, registerCmd("n1/a", r)))
	cases := map[string][]byte{
		"register":        registerCmd("n1/a", r),
		"register_result": registered,
		"deregister":      Deregister{Service: "web", ID: "w1", PID: "n1/a"}.Marshal(),
		"set_health":      SetHealth{Service: "web", ID: "w1", PID: "n1/a", Health: Warning, Output: "429", LastSeen: t0, Now: t0.Add(time.Second)}.Marshal(),
		"last_seen":       LastSeen{Node: "n1", Now: t0, Items: []Seen{{Service: "web", ID: "w1", PID: "n1/a", At: t0}}}.Marshal(),
		"query_instances": instancesQuery(Filter{Service: "web", Tag: "v1", Group: "blue", PassingOnly: true}),
		"query_services":  servicesQuery(),
		"query_index":     indexQuery(),
		"snapshot":        snapshotBytes(t, sampleTable(t)),
	}
	for name, got := range cases {
		path := filepath.Join("testdata", "golden", name+".hex")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create it)", name, err)
		}
		if h := hex.EncodeToString(got); h != strings.TrimSpace(string(want)) {
			t.Errorf("%s changed:\n got %s\nwant %s", name, h, strings.TrimSpace(string(want)))
		}
	}
}
