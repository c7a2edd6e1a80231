package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		edit func(c *Config)
		want []string // every line of the error; nil means valid
	}{
		"defaults": {edit: func(c *Config) {}},
		"empty name": {
			edit: func(c *Config) { c.Cluster.Name = "" },
			want: []string{"cluster.name: must not be empty"},
		},
		"long name": {
			edit: func(c *Config) { c.Cluster.Name = strings.Repeat("n", 129) },
			want: []string{"cluster.name: must be at most 128 bytes, got 129"},
		},
		"name with slash": {
			edit: func(c *Config) { c.Cluster.Name = "a/b" },
			want: []string{`cluster.name: must not contain whitespace, '/' or control characters, got "a/b"`},
		},
		"name with tab": {
			edit: func(c *Config) { c.Cluster.Name = "a\tb" },
			want: []string{`cluster.name: must not contain whitespace, '/' or control characters, got "a\tb"`},
		},
		"name at limit": {edit: func(c *Config) { c.Cluster.Name = strings.Repeat("n", 128) }},
		"eventual kv bounds out of range": {
			edit: func(c *Config) {
				c.Cluster.EventualKV.MaxValueBytes = 2 << 20
				c.Cluster.EventualKV.MaxStoreBytes = 1 << 20
				c.Cluster.EventualKV.TombstoneTTL = Duration(time.Second)
			},
			want: []string{
				"cluster.eventual_kv.max_value_bytes: must be between 1 and 1048576, got 2097152",
				"cluster.eventual_kv.max_store_bytes: must be at least max_value_bytes (2097152) and at most 1073741824, got 1048576",
				"cluster.eventual_kv.tombstone_ttl: must be at least 1m (a shorter one lets a briefly cut-off node bring deleted values back), got 1s",
			},
		},
		"snapshot settings out of range": {
			edit: func(c *Config) {
				c.Cluster.Raft.SnapshotThreshold = 0
				c.Cluster.Raft.TrailingLogs = -1
				c.Cluster.Raft.SnapshotInterval = Duration(time.Millisecond)
			},
			want: []string{
				"cluster.raft.snapshot_threshold: must be at least 1, got 0",
				"cluster.raft.trailing_logs: must not be negative, got -1",
				"cluster.raft.snapshot_interval: must be at least 1s, got 1ms",
			},
		},
		"acl default policy": {
			edit: func(c *Config) { c.ACL.DefaultPolicy = "maybe" },
			want: []string{`acl.default_policy: must be deny or allow; got "maybe"`},
		},
		"groups out of range": {
			edit: func(c *Config) {
				c.Cluster.Groups.MaxPayloadBytes = 0
				c.Cluster.Groups.AntiEntropyInterval = 0
				c.Cluster.Groups.HeartbeatInterval = Duration(-time.Second)
			},
			want: []string{
				"cluster.groups.max_payload_bytes: must be between 1 and 3145728, got 0",
				"cluster.groups.anti_entropy_interval: must be > 0, got 0s",
				"cluster.groups.heartbeat_interval: must be > 0, got -1s",
			},
		},
		"groups payload too big": {
			edit: func(c *Config) { c.Cluster.Groups.MaxPayloadBytes = 4 << 20 },
			want: []string{"cluster.groups.max_payload_bytes: must be between 1 and 3145728, got 4194304"},
		},
		"health out of range": {
			edit: func(c *Config) {
				c.Cluster.Health.MaxLagEntries = 0
				c.Cluster.Health.MaxLagTime = 0
				c.Cluster.Health.MinDiskFreeBytes = -1
			},
			want: []string{
				"cluster.health.max_lag_entries: must be >= 1, got 0",
				"cluster.health.max_lag_time: must be > 0, got 0s",
				"cluster.health.min_disk_free_bytes: must be >= 0, got -1",
			},
		},
		"health disk check off": {edit: func(c *Config) { c.Cluster.Health.MinDiskFreeBytes = 0 }},
		"empty data_dir": {
			edit: func(c *Config) { c.Cluster.DataDir = "" },
			want: []string{"cluster.data_dir: must not be empty"},
		},
		"bind_addr not an IP": {
			edit: func(c *Config) { c.Cluster.Membership.BindAddr = "localhost" },
			want: []string{`cluster.membership.bind_addr: want an IP address, got "localhost"`},
		},
		"empty bind_addr": {
			edit: func(c *Config) { c.Cluster.Membership.BindAddr = "" },
			want: []string{"cluster.membership.bind_addr: must not be empty"},
		},
		"ports out of range": {
			edit: func(c *Config) {
				c.Cluster.Membership.BindPort = 65536
				c.Cluster.Membership.AdvertisePort = -1
				c.Cluster.Internode.BindPort = 70000
			},
			want: []string{
				"cluster.membership.bind_port: must be between 0 and 65535, got 65536",
				"cluster.membership.advertise_port: must be between 0 and 65535, got -1",
				"cluster.internode.bind_port: must be -1 (ephemeral) or between 0 and 65535, got 70000",
			},
		},
		"internode ephemeral port": {edit: func(c *Config) { c.Cluster.Internode.BindPort = EphemeralPort }},
		"internode port below -1": {
			edit: func(c *Config) { c.Cluster.Internode.BindPort = -2 },
			want: []string{"cluster.internode.bind_port: must be -1 (ephemeral) or between 0 and 65535, got -2"},
		},
		"advertise IPv6": {edit: func(c *Config) { c.Cluster.Membership.AdvertiseAddr = "fd00::1" }},
		"join addrs": {
			edit: func(c *Config) {
				c.Cluster.Membership.JoinAddrs = StringList{"a:7946", "b", "fd00::1", "[fd00::2]:7946", "c:0", "d e", "f:http"}
			},
			want: []string{
				`cluster.membership.join_addrs[4]: want a port between 1 and 65535, got "0"`,
				`cluster.membership.join_addrs[5]: want host or host:port, got "d e"`,
				`cluster.membership.join_addrs[6]: want a port between 1 and 65535, got "http"`,
			},
		},
		"internode advertise with port": {
			edit: func(c *Config) { c.Cluster.Internode.AdvertiseAddr = "node-1:7950" },
			want: []string{`cluster.internode.advertise_addr: want an IP address or host name without a port, got "node-1:7950"`},
		},
		"internode bind_addr host name": {
			edit: func(c *Config) { c.Cluster.Internode.BindAddr = "node-1" },
			want: []string{`cluster.internode.bind_addr: want an IP address, got "node-1"`},
		},
		"even max_voters": {
			edit: func(c *Config) { c.Cluster.Raft.MaxVoters = 4 },
			want: []string{"cluster.raft.max_voters: must be odd, got 4"},
		},
		"max_voters too large": {
			edit: func(c *Config) { c.Cluster.Raft.MaxVoters = 11 },
			want: []string{"cluster.raft.max_voters: must be between 1 and 9, got 11"},
		},
		"max_voters zero": {
			edit: func(c *Config) { c.Cluster.Raft.MaxVoters = 0 },
			want: []string{"cluster.raft.max_voters: must be between 1 and 9, got 0"},
		},
		"one voter": {edit: func(c *Config) { c.Cluster.Raft.MaxVoters = 1; c.Cluster.Raft.BootstrapExpect = 1 }},
		"bad role": {
			edit: func(c *Config) { c.Cluster.Raft.Role = "voter" },
			want: []string{`cluster.raft.role: must be one of auto, client; got "voter"`},
		},
		"negative bootstrap_expect": {
			edit: func(c *Config) { c.Cluster.Raft.BootstrapExpect = -1 },
			want: []string{"cluster.raft.bootstrap_expect: must be >= 0, got -1"},
		},
		"bootstrap_expect above max_voters": {
			edit: func(c *Config) { c.Cluster.Raft.BootstrapExpect = 7 },
			want: []string{"cluster.raft.bootstrap_expect: must be at most max_voters (5), got 7"},
		},
		"bootstrap_expect equals max_voters": {edit: func(c *Config) { c.Cluster.Raft.BootstrapExpect = 5 }},
		"bootstrap_expect on a client": {
			edit: func(c *Config) { c.Cluster.Raft.Role = RoleClient; c.Cluster.Raft.BootstrapExpect = 3 },
			want: []string{"cluster.raft.bootstrap_expect: must be 0 when role is client, got 3"},
		},
		"client joins only": {edit: func(c *Config) { c.Cluster.Raft.Role = RoleClient }},
		"log_store bolt":    {edit: func(c *Config) { c.Cluster.Raft.LogStore = LogStoreBolt }},
		"unknown log_store": {
			edit: func(c *Config) { c.Cluster.Raft.LogStore = "rocksdb" },
			want: []string{`cluster.raft.log_store: must be one of bolt, wal; got "rocksdb"`},
		},
		"empty log_store": {
			edit: func(c *Config) { c.Cluster.Raft.LogStore = "" },
			want: []string{`cluster.raft.log_store: must be one of bolt, wal; got ""`},
		},
		"negative priority": {
			edit: func(c *Config) { c.Cluster.Raft.Priority = -1 },
			want: []string{"cluster.raft.priority: must be >= 0, got -1"},
		},
		"max_standbys out of range": {
			edit: func(c *Config) { c.Cluster.Raft.MaxStandbys = 17 },
			want: []string{"cluster.raft.max_standbys: must be between 0 and 16, got 17"},
		},
		"durations": {
			edit: func(c *Config) {
				c.Cluster.Raft.ReconcileDebounce = 0
				c.Cluster.Raft.Stabilization = Duration(-time.Second)
			},
			want: []string{
				"cluster.raft.reconcile_debounce: must be > 0, got 0s",
				"cluster.raft.stabilization: must be >= 0, got -1s",
			},
		},
		"zero stabilization": {edit: func(c *Config) { c.Cluster.Raft.Stabilization = 0 }},
		"manual admission":   {edit: func(c *Config) { c.Cluster.Raft.Admission = AdmissionManual }},
		"unknown admission": {
			edit: func(c *Config) { c.Cluster.Raft.Admission = "trusted" },
			want: []string{`cluster.raft.admission: must be one of auto, manual; got "trusted"`},
		},
		"api addresses": {
			edit: func(c *Config) { c.API.GRPCAddr = "127.0.0.1"; c.API.HTTPAddr = "127.0.0.1:http" },
			want: []string{
				`api.grpc_addr: want host:port, got "127.0.0.1"`,
				`api.http_addr: want a port between 0 and 65535, got "http"`,
			},
		},
		"api all interfaces": {edit: func(c *Config) { c.API.GRPCAddr = ":7940"; c.API.HTTPAddr = "localhost:0" }},
		"log": {
			edit: func(c *Config) { c.Log.Level = "verbose"; c.Log.Format = "text" },
			want: []string{
				`log.level: must be one of debug, info, warn, error; got "verbose"`,
				`log.format: must be one of json, console; got "text"`,
			},
		},
		"secret and secret_file": {
			edit: func(c *Config) {
				c.Cluster.Membership.Secret = "AAECAwQFBgcICQoLDA0ODw=="
				c.Cluster.Membership.SecretFile = "/etc/conclave/gossip.key"
			},
			want: []string{"cluster.membership.secret: set either secret or secret_file, not both"},
		},
		"malformed secret": {
			edit: func(c *Config) { c.Cluster.Membership.Secret = "sec!ret" },
			want: []string{"cluster.membership.secret: not valid base64: illegal base64 data at input byte 3"},
		},
		"short secret": {
			edit: func(c *Config) { c.Cluster.Membership.Secret = "AAECAwQFBgcICQ==" },
			want: []string{"cluster.membership.secret: key is 10 bytes after base64 decoding, want 16, 24 or 32"},
		},
		"secret_file not read": {
			// Validate does no I/O; GossipKey and Parse read the file.
			edit: func(c *Config) { c.Cluster.Membership.SecretFile = "/nonexistent/gossip.key" },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			before := c
			err := c.Validate()
			if !reflect.DeepEqual(c, before) {
				t.Fatal("Validate mutated the config")
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
			var fe *Error
			if !errors.As(err, &fe) || fe.Key == "" {
				t.Errorf("errors.As(*Error) = %+v, want one with a key", fe)
			}
		})
	}
}
