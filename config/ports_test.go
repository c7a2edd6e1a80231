package config

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePortClashes(t *testing.T) {
	tests := map[string]struct {
		edit func(c *Config)
		want string // the whole error; "" means valid
	}{
		"internode on the gossip port": {
			edit: func(c *Config) { c.Cluster.Internode.BindPort = 7946 },
			want: "cluster.internode.bind_port: port 7946 is also cluster.membership.bind_port's (0.0.0.0:7946): each listener needs a port of its own",
		},
		"internode on the gossip port, other address": {
			edit: func(c *Config) {
				c.Cluster.Membership.BindAddr = "10.0.0.1"
				c.Cluster.Internode.BindAddr = "10.0.0.2"
				c.Cluster.Internode.BindPort = 7946
			},
		},
		"internode on the gossip port, gossip on every interface": {
			edit: func(c *Config) {
				c.Cluster.Internode.BindAddr = "127.0.0.1"
				c.Cluster.Internode.BindPort = 7946
			},
			want: "cluster.internode.bind_port: port 7946 is also cluster.membership.bind_port's (0.0.0.0:7946): each listener needs a port of its own",
		},
		"grpc = http": {
			edit: func(c *Config) { c.API.HTTPAddr = "127.0.0.1:7940" },
			want: "api.http_addr: port 7940 is also api.grpc_addr's (127.0.0.1:7940): each listener needs a port of its own",
		},
		"grpc = http via localhost": {
			edit: func(c *Config) { c.API.GRPCAddr, c.API.HTTPAddr = "localhost:9000", "127.0.0.1:9000" },
			want: "api.http_addr: port 9000 is also api.grpc_addr's (localhost:9000): each listener needs a port of its own",
		},
		"grpc and http on all interfaces and loopback": {
			edit: func(c *Config) { c.API.GRPCAddr, c.API.HTTPAddr = ":9000", "127.0.0.1:9000" },
			want: "api.http_addr: port 9000 is also api.grpc_addr's (:9000): each listener needs a port of its own",
		},
		"same port, other addresses": {
			edit: func(c *Config) { c.API.GRPCAddr, c.API.HTTPAddr = "127.0.0.1:9000", "127.0.0.2:9000" },
		},
		"api on the gossip port": {
			edit: func(c *Config) { c.API.GRPCAddr = "127.0.0.1:7946" },
			want: "api.grpc_addr: port 7946 is also cluster.membership.bind_port's (0.0.0.0:7946): each listener needs a port of its own",
		},
		"port 0 twice is fine": {
			edit: func(c *Config) { c.API.GRPCAddr, c.API.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0" },
		},
		"cluster disabled: gossip port unused": {
			edit: func(c *Config) { c.Cluster.Enabled = false; c.API.GRPCAddr = "127.0.0.1:7946" },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.Cluster.Name, c.Cluster.DataDir = "n1", "/tmp/x"
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestDevPortsDoNotClash(t *testing.T) {
	c := Dev()
	c.Cluster.DataDir = "/tmp/x"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, l := range c.listeners() {
		if strings.HasPrefix(l.key, "cluster.") {
			t.Fatalf("dev pins %s = %d; it should take a free port", l.key, l.port)
		}
	}
}
