package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestValidateDNSAndDiscovery covers the dns section and
// cluster.membership.discover / allow_only_inventory.
func TestValidateDNSAndDiscovery(t *testing.T) {
	tests := map[string]struct {
		edit func(c *Config)
		want []string // every line of the error; nil means valid
	}{
		"dns off by default": {edit: func(c *Config) {}},
		"dns on loopback": {edit: func(c *Config) {
			c.DNS.BindAddr, c.DNS.Domain, c.DNS.TTL = "127.0.0.1:8600", "svc.example.", Duration(10*time.Second)
		}},
		"dns ipv6 loopback": {edit: func(c *Config) { c.DNS.BindAddr = "[::1]:8600" }},
		"dns host name": {
			edit: func(c *Config) { c.DNS.BindAddr = "localhost:8600" },
			want: []string{`dns.bind_addr: want ip:port (an IP literal), got "localhost:8600"`},
		},
		"dns no port": {
			edit: func(c *Config) { c.DNS.BindAddr = "127.0.0.1" },
			want: []string{`dns.bind_addr: want ip:port (an IP literal), got "127.0.0.1"`},
		},
		"dns bad port": {
			edit: func(c *Config) { c.DNS.BindAddr = "127.0.0.1:99999" },
			want: []string{`dns.bind_addr: want a port between 0 and 65535, got "99999"`},
		},
		"dns domain not fqdn": {
			edit: func(c *Config) { c.DNS.Domain = "conclave" },
			want: []string{`dns.domain: want a fully qualified domain name ending with a dot, such as conclave., got "conclave"`},
		},
		"dns domain root": {
			edit: func(c *Config) { c.DNS.Domain = "." },
			want: []string{`dns.domain: want a fully qualified domain name ending with a dot, such as conclave., got "."`},
		},
		"dns domain bad label": {
			edit: func(c *Config) { c.DNS.Domain = "my_domain." },
			want: []string{`dns.domain: want labels of 1-63 letters, digits or hyphens, not starting or ending with a hyphen, got "my_domain."`},
		},
		"dns ttl": {
			edit: func(c *Config) { c.DNS.TTL = Duration(1500 * time.Millisecond) },
			want: []string{"dns.ttl: want whole seconds between 0s and 24h0m0s, got 1.5s"},
		},
		"dns ttl negative": {
			edit: func(c *Config) { c.DNS.TTL = Duration(-time.Second) },
			want: []string{"dns.ttl: want whole seconds between 0s and 24h0m0s, got -1s"},
		},
		"dns open with acl": {
			edit: func(c *Config) { c.ACL.Enabled, c.DNS.BindAddr = true, "0.0.0.0:8600" },
			want: []string{"dns.bind_addr: DNS on 0.0.0.0:8600 answers without a token while acl.enabled is set, revealing every service; " +
				"bind it to loopback, or set dns.allow_unauthenticated: true to accept that"},
		},
		"dns open with acl allowed": {edit: func(c *Config) {
			c.ACL.Enabled, c.DNS.BindAddr, c.DNS.AllowUnauthenticated = true, "10.0.0.1:8600", true
		}},
		"dns loopback with acl": {edit: func(c *Config) { c.ACL.Enabled, c.DNS.BindAddr = true, "127.0.0.1:8600" }},
		"dns open without acl":  {edit: func(c *Config) { c.DNS.BindAddr = "0.0.0.0:8600" }},
		"dns port clashes with http": {
			edit: func(c *Config) { c.DNS.BindAddr = "127.0.0.1:7941" },
			want: []string{"dns.bind_addr: port 7941 is also api.http_addr's (127.0.0.1:7941): each listener needs a port of its own"},
		},
		"dns port clashes with gossip": {
			edit: func(c *Config) { c.DNS.BindAddr = "127.0.0.1:7946" },
			want: []string{"dns.bind_addr: port 7946 is also cluster.membership.bind_port's (0.0.0.0:7946): each listener needs a port of its own"},
		},
		"discover dns and file": {edit: func(c *Config) {
			c.Cluster.Membership.Discover = DiscoverConfig{DNS: "gossip.example.internal", File: "/etc/conclave/inventory", Interval: Duration(time.Minute)}
			c.Cluster.Membership.AllowOnlyInventory = true
		}},
		"discover file only": {edit: func(c *Config) {
			c.Cluster.Membership.Discover.File = "/etc/conclave/inventory"
			c.Cluster.Membership.AllowOnlyInventory = true
		}},
		"discover dns with port": {
			edit: func(c *Config) { c.Cluster.Membership.Discover.DNS = "gossip.example:7946" },
			want: []string{`cluster.membership.discover.dns: want a DNS name without a port (SRV records carry ports), got "gossip.example:7946"`},
		},
		"discover dns ip": {
			edit: func(c *Config) { c.Cluster.Membership.Discover.DNS = "10.0.0.1" },
			want: []string{`cluster.membership.discover.dns: want a DNS name without a port (SRV records carry ports), got "10.0.0.1"`},
		},
		"discover interval": {
			edit: func(c *Config) { c.Cluster.Membership.Discover.Interval = Duration(30 * time.Millisecond) },
			want: []string{"cluster.membership.discover.interval: must be at least 1s, got 30ms"},
		},
		"allow_only_inventory without inventory": {
			edit: func(c *Config) { c.Cluster.Membership.AllowOnlyInventory = true },
			want: []string{"cluster.membership.allow_only_inventory: needs an inventory: set cluster.membership.discover.dns or cluster.membership.discover.file"},
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
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want %q wrapping ErrInvalid", err, tc.want)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestParseDNSAndDiscoveryLines: a bad key in the new sections is reported
// with its file line, like every other.
func TestParseDNSAndDiscoveryLines(t *testing.T) {
	_, err := Parse([]byte("cluster:\n  membership:\n    allow_only_inventory: true\ndns:\n  domain: nodot\n  ttls: 1s\n"), "node.yaml")
	if err == nil {
		t.Fatal("Parse accepted an unknown key")
	}
	if got := err.Error(); got != "node.yaml:6: dns.ttls: unknown key" {
		t.Fatalf("decode error = %q", got)
	}
	_, err = Parse([]byte("cluster:\n  membership:\n    allow_only_inventory: true\ndns:\n  domain: nodot\n"), "node.yaml")
	want := []string{
		"node.yaml:3: cluster.membership.allow_only_inventory: needs an inventory: set cluster.membership.discover.dns or cluster.membership.discover.file",
		`node.yaml:5: dns.domain: want a fully qualified domain name ending with a dot, such as conclave., got "nodot"`,
	}
	if err == nil || !reflect.DeepEqual(strings.Split(err.Error(), "\n"), want) {
		t.Fatalf("Parse = %v, want\n%s", err, strings.Join(want, "\n"))
	}
}
