package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// fullWant is testdata/full.yaml decoded by hand.
func fullWant() Config {
	return Config{
		Cluster: ClusterConfig{
			Enabled:       false,
			Name:          "node-1",
			FailureDomain: "us-east-1a",
			DataDir:       "/srv/conclave",
			Membership: MembershipConfig{
				BindAddr:      "10.0.0.1",
				BindPort:      8946,
				AdvertiseAddr: "192.0.2.10",
				AdvertisePort: 18946,
				JoinAddrs:     StringList{"node-2:8946", "node-3"},
				SecretFile:    "",
				Secret:        "AAECAwQFBgcICQoLDA0ODw==",
				Discover: DiscoverConfig{
					DNS:      "gossip.conclave.example.internal",
					File:     "/etc/conclave/inventory",
					Interval: Duration(time.Minute),
				},
				AllowOnlyInventory: true,
			},
			Internode: InternodeConfig{
				BindAddr:      "10.0.0.2",
				BindPort:      7955,
				AdvertiseAddr: "node-1.example.internal",
			},
			Raft: RaftConfig{
				BootstrapExpect:   3,
				Role:              "auto",
				Eligible:          false,
				Priority:          10,
				MaxVoters:         3,
				MaxStandbys:       2,
				ReconcileDebounce: Duration(500 * time.Millisecond),
				Stabilization:     Duration(90 * time.Second),
				Admission:         AdmissionManual,
				LogStore:          "bolt",
				SnapshotThreshold: 4096,
				SnapshotInterval:  Duration(30 * time.Second),
				TrailingLogs:      2000,
			},
			Names:      NamesConfig{StrongDeadline: Duration(7 * time.Second)},
			EventualKV: EventualKVConfig{MaxValueBytes: 1024, MaxStoreBytes: 1 << 20, TombstoneTTL: Duration(2 * time.Hour)},
			Health:     HealthConfig{MaxLagEntries: 100, MaxLagTime: Duration(4 * time.Second), MinDiskFreeBytes: 1 << 30},
			Groups: GroupsConfig{
				MaxPayloadBytes:     65536,
				AntiEntropyInterval: Duration(10 * time.Second),
				HeartbeatInterval:   Duration(2 * time.Second),
			},
		},
		API: APIConfig{GRPCAddr: "0.0.0.0:9940", HTTPAddr: "[::1]:9941", HTTPAllowedHosts: StringList{"conclave.internal", "10.0.0.7"}},
		TLS: TLSConfig{
			CAFile:         "/etc/conclave/ca.pem",
			CertFile:       "/etc/conclave/node-1.pem",
			KeyFile:        "/etc/conclave/node-1-key.pem",
			VerifyIncoming: true,
		},
		Log: LogConfig{Level: "debug", Format: "console"},
		ACL: ACLConfig{Enabled: true, DefaultPolicy: "allow"},
		DNS: DNSConfig{BindAddr: "10.0.0.1:8600", Domain: "svc.example.", TTL: Duration(5 * time.Second), AllowUnauthenticated: true},
	}
}

func TestLoadFullRoundTrip(t *testing.T) {
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := fullWant(); !reflect.DeepEqual(c, want) {
		t.Fatalf("Load(full.yaml) =\n%+v\nwant\n%+v", c, want)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err := Parse(out, "marshalled")
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip changed the config:\n%+v\nwant\n%+v\nYAML:\n%s", back, c, out)
	}
	key, err := c.GossipKey()
	if err != nil || len(key) != 16 || key[15] != 15 {
		t.Errorf("GossipKey() = %v, %v; want the 16 bytes 0..15", key, err)
	}
}

// TestFullCoversSchema keeps testdata/full.yaml honest: every key of the
// schema must appear in it, so the round trip covers every field.
func TestFullCoversSchema(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := decoder{file: "full.yaml", lines: map[string]int{}}
	root, err := d.document(data)
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	d.walk(root, reflect.ValueOf(&c).Elem(), "")
	if len(d.errs) > 0 {
		t.Fatal(joinErrors(d.errs))
	}
	for _, key := range schemaKeys(reflect.TypeFor[Config](), "") {
		if d.lines[key] == 0 {
			t.Errorf("testdata/full.yaml does not set %s", key)
		}
	}
}

func schemaKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for name, i := range yamlFields(t) {
		key := join(prefix, name)
		keys = append(keys, key)
		if ft := t.Field(i).Type; ft.Kind() == reflect.Struct {
			keys = append(keys, schemaKeys(ft, key)...)
		}
	}
	return keys
}

// TestDesignExample parses the sample file of DESIGN §10 (secret_file swapped
// for an inline secret so no file is needed).
func TestDesignExample(t *testing.T) {
	const doc = `cluster:
  enabled: true
  name: node-1
  failure_domain: us-east-1a
  data_dir: /var/lib/conclave
  membership:
    bind_addr: 0.0.0.0
    bind_port: 7946
    advertise_addr: ""            # auto
    join_addrs: "node-2:7946,node-3:7946"   # string or list
    secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
  internode:
    bind_port: 0
  raft:
    bootstrap_expect: 3
    role: auto
    eligible: true
    priority: 100
    max_voters: 5
    max_standbys: 4
    reconcile_debounce: 2s
api:
  grpc_addr: 127.0.0.1:7940
  http_addr: 127.0.0.1:7941
log:
  level: info
  format: json
`
	c, err := Parse([]byte(doc), "design.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Cluster.Name = "node-1"
	want.Cluster.FailureDomain = "us-east-1a"
	want.Cluster.Membership.JoinAddrs = StringList{"node-2:7946", "node-3:7946"}
	want.Cluster.Membership.Secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	want.Cluster.Raft.BootstrapExpect = 3
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Parse =\n%+v\nwant\n%+v", c, want)
	}
}

func TestParseEmptyMeansDefaults(t *testing.T) {
	tests := map[string]string{
		"empty":         "",
		"comments only": "# nothing here\n\n",
		"null document": "~\n",
		"document mark": "---\n",
		"empty section": "cluster:\nlog:\n",
		"null values":   "cluster:\n  name:\n  raft:\n    max_voters: ~\n",
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(doc), "node.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if want := Default(); !reflect.DeepEqual(c, want) {
				t.Fatalf("Parse(%q) = %+v, want Default() %+v", doc, c, want)
			}
		})
	}
}

func TestParseJoinAddrs(t *testing.T) {
	tests := map[string]struct {
		doc  string
		want StringList
	}{
		"string": {
			doc:  `join_addrs: "a:7946, b:7946,,c"`,
			want: StringList{"a:7946", "b:7946", "c"},
		},
		"list": {
			doc:  "join_addrs:\n      - a:7946\n      - ' b:7946 '\n      - fd00::1",
			want: StringList{"a:7946", "b:7946", "fd00::1"},
		},
		"flow list":    {doc: "join_addrs: [a, b]", want: StringList{"a", "b"}},
		"empty string": {doc: `join_addrs: ""`, want: nil},
		"null":         {doc: "join_addrs:", want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc := "cluster:\n  membership:\n    " + tc.doc + "\n"
			c, err := Parse([]byte(doc), "node.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Cluster.Membership.JoinAddrs; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("join_addrs = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseAliasesAndMerges(t *testing.T) {
	const doc = `cluster:
  raft: &base
    priority: 5
    max_voters: 3
  internode:
    bind_port: 7951
api:
  grpc_addr: &addr 127.0.0.1:9000
  http_addr: 127.0.0.1:9001
log:
  <<: {level: debug, format: console}
  level: warn
`
	c, err := Parse([]byte(doc), "node.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Cluster.Raft.Priority != 5 || c.Cluster.Raft.MaxVoters != 3 {
		t.Errorf("raft = %+v", c.Cluster.Raft)
	}
	// An explicit key beats the merged one whatever the order; the rest merge.
	if c.Log.Level != "warn" || c.Log.Format != "console" {
		t.Errorf("log = %+v, want level warn (explicit) and format console (merged)", c.Log)
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		doc  string
		want []string // every line of the error message, in order
	}{
		"unknown top-level key": {
			doc:  "cluster:\n  name: a\nloggin:\n  level: info\n",
			want: []string{"node.yaml:3: loggin: unknown key"},
		},
		"unknown nested key": {
			doc:  "cluster:\n  raft:\n    reconcile_debuonce: 2s\n",
			want: []string{"node.yaml:3: cluster.raft.reconcile_debuonce: unknown key"},
		},
		"unknown health key": {
			doc:  "cluster:\n  health:\n    min_disk_free: 1\n",
			want: []string{"node.yaml:3: cluster.health.min_disk_free: unknown key"},
		},
		"health bytes with a unit": {
			doc:  "cluster:\n  health:\n    min_disk_free_bytes: 64MiB\n",
			want: []string{`node.yaml:3: cluster.health.min_disk_free_bytes: want an integer, got "64MiB"`},
		},
		"wrong type int": {
			doc:  "cluster:\n  raft:\n    priority: high\n",
			want: []string{`node.yaml:3: cluster.raft.priority: want an integer, got "high"`},
		},
		"float for int": {
			doc:  "cluster:\n  raft:\n    priority: 1.5\n",
			want: []string{`node.yaml:3: cluster.raft.priority: want an integer, got "1.5"`},
		},
		"quoted int": {
			doc:  "cluster:\n  membership:\n    bind_port: \"7946\"\n",
			want: []string{`node.yaml:3: cluster.membership.bind_port: want an integer, got "7946"`},
		},
		"wrong type bool": {
			doc:  "cluster:\n  enabled: maybe\n",
			want: []string{`node.yaml:2: cluster.enabled: want true or false, got "maybe"`},
		},
		"mapping for string": {
			doc:  "cluster:\n  name:\n    first: a\n",
			want: []string{`node.yaml:3: cluster.name: want a string, got a mapping`},
		},
		"scalar for section": {
			doc:  "cluster:\n  raft: yes\n",
			want: []string{`node.yaml:2: cluster.raft: want a mapping, got "yes"`},
		},
		"bad duration": {
			doc:  "cluster:\n  raft:\n    priority: 1\n\n\n\n    reconcile_debounce: 2x\n",
			want: []string{`node.yaml:7: cluster.raft.reconcile_debounce: invalid duration "2x"`},
		},
		"bare number duration": {
			doc:  "cluster:\n  raft:\n    stabilization: 10\n",
			want: []string{`node.yaml:3: cluster.raft.stabilization: want a duration such as 2s, got "10"`},
		},
		"bad list element": {
			doc:  "cluster:\n  membership:\n    join_addrs:\n      - a\n      - {b: 1}\n",
			want: []string{`node.yaml:5: cluster.membership.join_addrs[1]: want a string, got a mapping`},
		},
		"duplicate key": {
			doc:  "log:\n  level: info\n  level: debug\n",
			want: []string{"node.yaml:3: log.level: duplicate key, first set at line 2"},
		},
		"several decoding problems": {
			doc: "cluster:\n  nmae: a\n  raft:\n    max_voters: five\napi:\n  grpc: x\n",
			want: []string{
				"node.yaml:2: cluster.nmae: unknown key",
				`node.yaml:4: cluster.raft.max_voters: want an integer, got "five"`,
				"node.yaml:6: api.grpc: unknown key",
			},
		},
		"even max_voters": {
			doc:  "cluster:\n  raft:\n    max_voters: 4\n",
			want: []string{"node.yaml:3: cluster.raft.max_voters: must be odd, got 4"},
		},
		"validation without a line": {
			// bootstrap_expect is in the file, max_voters is the default.
			doc:  "cluster:\n  raft:\n    bootstrap_expect: 7\n",
			want: []string{"node.yaml:3: cluster.raft.bootstrap_expect: must be at most max_voters (5), got 7"},
		},
		"unknown log store": {
			doc:  "cluster:\n  raft:\n    priority: 1\n    log_store: WAL\n",
			want: []string{`node.yaml:4: cluster.raft.log_store: must be one of bolt, wal; got "WAL"`},
		},
		"several validation problems": {
			doc: "cluster:\n  name: a b\n  membership:\n    join_addrs: \"x:1,y:99999\"\nlog:\n  format: text\n",
			want: []string{
				`node.yaml:2: cluster.name: must not contain whitespace, '/' or control characters, got "a b"`,
				`node.yaml:4: cluster.membership.join_addrs[1]: want a port between 1 and 65535, got "99999"`,
				`node.yaml:6: log.format: must be one of json, console; got "text"`,
			},
		},
		"top level is a list": {
			doc:  "- cluster\n",
			want: []string{"node.yaml:1: want a mapping of keys at the top level, got a list"},
		},
		"syntax error": {
			doc:  "cluster:\n  name: [a\n",
			want: []string{"node.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		},
		"scanner syntax error": {
			doc:  "cluster:\n  name: a\n  data_dir: b: c\n",
			want: []string{"node.yaml:3: invalid YAML: mapping values are not allowed in this context"},
		},
		"parser syntax error": {
			doc:  "cluster:\n  name: a\n  raft:\n    - a\n    b: c\n",
			want: []string{"node.yaml:4: invalid YAML: did not find expected '-' indicator"},
		},
		"two documents": {
			doc:  "log:\n  level: info\n---\nlog:\n  level: debug\n",
			want: []string{"node.yaml:4: more than one YAML document; want one"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(tc.doc), "node.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("error =\n%s\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Config on error = %+v, want the zero value", c)
			}
		})
	}
}

func TestLoadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX\n") // 24 bytes
	bad := write("bad.key", "not base64!\n")
	short := write("short.key", "AAECAw==")
	missing := filepath.Join(dir, "missing.key")

	tests := map[string]struct {
		secretFile string
		wantKeyLen int
		wantErr    string
		wantIs     error
	}{
		"good file": {secretFile: good, wantKeyLen: 24},
		"missing file": {
			secretFile: missing,
			wantErr:    fmt.Sprintf("node.yaml:3: cluster.membership.secret_file: open %s: no such file or directory", missing),
			wantIs:     fs.ErrNotExist,
		},
		"malformed base64": {
			secretFile: bad,
			wantErr:    fmt.Sprintf("node.yaml:3: cluster.membership.secret_file: %s: not valid base64: illegal base64 data at input byte 3", bad),
		},
		"wrong length": {
			secretFile: short,
			wantErr:    fmt.Sprintf("node.yaml:3: cluster.membership.secret_file: %s: key is 4 bytes after base64 decoding, want 16, 24 or 32", short),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc := fmt.Sprintf("cluster:\n  membership:\n    secret_file: %s\n", tc.secretFile)
			path := write("node.yaml", doc)
			c, err := Load(path)
			if tc.wantErr != "" {
				want := strings.Replace(tc.wantErr, "node.yaml", path, 1)
				if err == nil || err.Error() != want {
					t.Fatalf("Load error = %v\nwant %s", err, want)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Error("error does not wrap ErrInvalid")
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("error does not wrap %v", tc.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			key, err := c.GossipKey()
			if err != nil || len(key) != tc.wantKeyLen {
				t.Fatalf("GossipKey() = %d bytes, %v; want %d bytes", len(key), err, tc.wantKeyLen)
			}
		})
	}
}

func TestLoadMissingConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(absent) = %v, want fs.ErrNotExist", err)
	}
	// Nothing in the file is wrong; the caller can tell the cases apart.
	if errors.Is(err, ErrInvalid) {
		t.Errorf("read error %v wraps ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}
