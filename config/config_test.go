package config

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	want, err := os.Hostname()
	if err != nil || want == "" {
		want = fallbackName
	}
	if c.Cluster.Name != want {
		t.Errorf("name = %q, want host name %q", c.Cluster.Name, want)
	}
	checks := map[string]struct{ got, want any }{
		"enabled":            {c.Cluster.Enabled, true},
		"data_dir":           {c.Cluster.DataDir, "/var/lib/conclave"},
		"bind_addr":          {c.Cluster.Membership.BindAddr, "0.0.0.0"},
		"bind_port":          {c.Cluster.Membership.BindPort, 7946},
		"role":               {c.Cluster.Raft.Role, "auto"},
		"eligible":           {c.Cluster.Raft.Eligible, true},
		"priority":           {c.Cluster.Raft.Priority, 100},
		"max_voters":         {c.Cluster.Raft.MaxVoters, 5},
		"max_standbys":       {c.Cluster.Raft.MaxStandbys, 4},
		"reconcile_debounce": {c.Cluster.Raft.ReconcileDebounce.Duration(), 2 * time.Second},
		"stabilization":      {c.Cluster.Raft.Stabilization.Duration(), 10 * time.Second},
		"admission":          {c.Cluster.Raft.Admission, "auto"},
		"grpc_addr":          {c.API.GRPCAddr, "127.0.0.1:7940"},
		"http_addr":          {c.API.HTTPAddr, "127.0.0.1:7941"},
		"level":              {c.Log.Level, "info"},
		"format":             {c.Log.Format, "json"},
		"internode follows":  {c.Cluster.InternodeBindAddr(), "0.0.0.0"},
		"max_payload_bytes":  {c.Cluster.Groups.MaxPayloadBytes, 1 << 20},
		"anti_entropy":       {c.Cluster.Groups.AntiEntropyInterval.Duration(), 30 * time.Second},
		"heartbeat_interval": {c.Cluster.Groups.HeartbeatInterval.Duration(), 5 * time.Second},
		"max_lag_entries":    {c.Cluster.Health.MaxLagEntries, 5000},
		"max_lag_time":       {c.Cluster.Health.MaxLagTime.Duration(), 10 * time.Second},
		"min_disk_free":      {c.Cluster.Health.MinDiskFreeBytes, 64 << 20},
		"dns off":            {c.DNS.Enabled(), false},
		"dns domain":         {c.DNS.Domain, "conclave."},
		"dns ttl":            {c.DNS.TTL.Duration(), time.Duration(0)},
		"discover off":       {c.Cluster.Membership.Discover.Enabled(), false},
		"discover interval":  {c.Cluster.Membership.Discover.Interval.Duration(), 30 * time.Second},
		"allow_only_inv":     {c.Cluster.Membership.AllowOnlyInventory, false},
	}
	for name, tc := range checks {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestDev(t *testing.T) {
	c := Dev()
	// Dev leaves the data dir to the caller, and Validate insists on one.
	err := c.Validate()
	var fe *Error
	if !errors.As(err, &fe) || fe.Key != "cluster.data_dir" || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Dev().Validate() without data dir = %v, want a cluster.data_dir error", err)
	}
	c.Cluster.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatalf("Dev() with data dir: Validate() = %v", err)
	}
	checks := map[string]struct{ got, want any }{
		"name":             {c.Cluster.Name, "dev"},
		"bootstrap_expect": {c.Cluster.Raft.BootstrapExpect, 1},
		"bind_addr":        {c.Cluster.Membership.BindAddr, "127.0.0.1"},
		"bind_port":        {c.Cluster.Membership.BindPort, 0},
		"internode":        {c.Cluster.InternodeBindAddr(), "127.0.0.1"},
		"grpc_addr":        {c.API.GRPCAddr, "127.0.0.1:7940"},
		"http_addr":        {c.API.HTTPAddr, "127.0.0.1:7941"},
		"format":           {c.Log.Format, "console"},
	}
	for name, tc := range checks {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestInternodeBindAddr(t *testing.T) {
	tests := map[string]struct {
		membership, internode, want string
	}{
		"follows membership": {"10.0.0.1", "", "10.0.0.1"},
		"own address":        {"10.0.0.1", "10.0.0.2", "10.0.0.2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Default().Cluster
			c.Membership.BindAddr = tc.membership
			c.Internode.BindAddr = tc.internode
			if got := c.InternodeBindAddr(); got != tc.want {
				t.Errorf("InternodeBindAddr() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	cause := errors.New("boom")
	tests := map[string]struct {
		err  *Error
		want string
	}{
		"all parts":  {&Error{File: "node.yaml", Line: 12, Key: "a.b", Problem: "bad"}, "node.yaml:12: a.b: bad"},
		"no line":    {&Error{File: "node.yaml", Key: "a.b", Problem: "bad"}, "node.yaml: a.b: bad"},
		"no file":    {&Error{Key: "a.b", Problem: "bad"}, "a.b: bad"},
		"no key":     {&Error{File: "node.yaml", Line: 3, Problem: "bad"}, "node.yaml:3: bad"},
		"line only":  {&Error{Line: 3, Key: "a", Problem: "bad"}, "line 3: a: bad"},
		"with cause": {&Error{Key: "a", Problem: "boom", Err: cause}, "a: boom"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if !errors.Is(tc.err, ErrInvalid) {
				t.Error("does not wrap ErrInvalid")
			}
			if tc.err.Err != nil && !errors.Is(tc.err, tc.err.Err) {
				t.Error("does not wrap its cause")
			}
		})
	}
}
