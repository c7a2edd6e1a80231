package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCheckExposure(t *testing.T) {
	const key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	withTLS := func(c *Config) {
		c.TLS = TLSConfig{CAFile: "ca.pem", CertFile: "n.pem", KeyFile: "n-key.pem"}
	}
	tests := map[string]struct {
		edit func(c *Config)
		want []string
	}{
		"defaults refuse every open door": {
			edit: func(c *Config) { c.API.GRPCAddr = "0.0.0.0:7940" },
			want: []string{
				"cluster.membership.bind_addr: gossip on 0.0.0.0 without an encryption key; set cluster.membership.secret_file, or insecure: true to run in clear on purpose",
				"cluster.internode.bind_addr: internode mesh on 0.0.0.0 without TLS; set tls, or insecure: true to run in clear on purpose",
				"api.grpc_addr: API on 0.0.0.0:7940 without TLS; set tls, or insecure: true to run in clear on purpose",
			},
		},
		"insecure said in words": {edit: func(c *Config) { c.Insecure = true; c.API.GRPCAddr = "0.0.0.0:7940" }},
		"dev is loopback":        {edit: func(c *Config) { *c = Dev() }},
		"key, tls and acls": {edit: func(c *Config) {
			c.Cluster.Membership.Secret = key
			withTLS(c)
			c.ACL.Enabled = true
			c.API.HTTPAddr = "10.0.0.1:7941"
		}},
		"key, tls and client certificates": {edit: func(c *Config) {
			c.Cluster.Membership.Secret = key
			withTLS(c)
			c.TLS.VerifyIncoming = true
			c.API.HTTPAddr = "10.0.0.1:7941"
		}},
		"tls alone checks no client": {
			edit: func(c *Config) {
				c.Cluster.Membership.Secret = key
				withTLS(c)
				c.API.HTTPAddr = "10.0.0.1:7941"
			},
			want: []string{"api.http_addr: API on 10.0.0.1:7941 admits any client that reaches it (no client certificates, no ACLs); " +
				"set acl.enabled: true (docs/acl.md) or tls.verify_incoming: true, or insecure: true to run in clear on purpose"},
		},
		"key without tls": {
			edit: func(c *Config) { c.Cluster.Membership.SecretFile = "/etc/gossip.key" },
			want: []string{"cluster.internode.bind_addr: internode mesh on 0.0.0.0 without TLS; set tls, or insecure: true to run in clear on purpose"},
		},
		"mesh moved to loopback": {
			edit: func(c *Config) { c.Cluster.Membership.Secret = key; c.Cluster.Internode.BindAddr = "127.0.0.1" },
		},
		"cluster disabled checks only the API": {
			edit: func(c *Config) { c.Cluster.Enabled = false; c.API.HTTPAddr = ":7941" },
			want: []string{"api.http_addr: API on :7941 without TLS; set tls, or insecure: true to run in clear on purpose"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.CheckExposure()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckExposure() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckExposure() = %v, want an ErrInvalid", err)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CheckExposure() =\n%s\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestValidateTLS(t *testing.T) {
	tests := map[string]struct {
		tls  TLSConfig
		want []string
	}{
		"off":      {},
		"complete": {tls: TLSConfig{CAFile: "ca", CertFile: "c", KeyFile: "k", VerifyIncoming: true}},
		"verify_incoming alone": {
			tls:  TLSConfig{VerifyIncoming: true},
			want: []string{"tls.verify_incoming: needs tls.ca_file, tls.cert_file and tls.key_file"},
		},
		"ca only": {
			tls: TLSConfig{CAFile: "ca"},
			want: []string{
				"tls.cert_file: must be set when any of tls.ca_file, tls.cert_file, tls.key_file is",
				"tls.key_file: must be set when any of tls.ca_file, tls.cert_file, tls.key_file is",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.TLS = tc.tls
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestValidateHTTPAllowedHosts(t *testing.T) {
	c := Default()
	c.API.HTTPAllowedHosts = StringList{"conclave.internal", "::1", "evil.example:80"}
	err := c.Validate()
	want := `api.http_allowed_hosts: want host names or IPs without a port, got "evil.example:80"`
	if err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v, want %s", err, want)
	}
}
