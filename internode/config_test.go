package internode

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigsValid(t *testing.T) {
	for name, c := range map[string]Config{"default": DefaultConfig(), "local": DefaultLocalConfig()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if d := DefaultConfig(); d.PortMin != 7950 || d.PortMax != 7959 || d.MaxFrameSize != 4<<20 ||
		d.DialTimeout != 2*time.Second || d.KeepAliveInterval != 10*time.Second {
		t.Errorf("DefaultConfig drifted from DESIGN §11: %+v", d)
	}
	if l := DefaultLocalConfig(); l.PortMin != 0 || l.PortMax != 0 || l.BindAddr != "127.0.0.1" {
		t.Errorf("DefaultLocalConfig should bind loopback, ephemeral: %+v", l)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mut   func(*Config)
		field string // "" = valid
	}{
		"ok":                    {func(*Config) {}, ""},
		"ipv6 bind":             {func(c *Config) { c.BindAddr = "::1" }, ""},
		"advertise name":        {func(c *Config) { c.AdvertiseAddr = "node-1.example" }, ""},
		"advertise ip":          {func(c *Config) { c.AdvertiseAddr = "10.0.0.7" }, ""},
		"empty bind":            {func(c *Config) { c.BindAddr = "" }, "BindAddr"},
		"host bind":             {func(c *Config) { c.BindAddr = "localhost" }, "BindAddr"},
		"negative port":         {func(c *Config) { c.BindPort = -1 }, "BindPort"},
		"big port":              {func(c *Config) { c.BindPort = 70000 }, "BindPort"},
		"port min big":          {func(c *Config) { c.PortMin = 70000 }, "PortMin"},
		"port max negative":     {func(c *Config) { c.PortMax = -5 }, "PortMax"},
		"min above max":         {func(c *Config) { c.PortMin, c.PortMax = 7960, 7950 }, "PortMin"},
		"only max":              {func(c *Config) { c.PortMin, c.PortMax = 0, 7959 }, "PortMin"},
		"advertise unspecified": {func(c *Config) { c.AdvertiseAddr = "0.0.0.0" }, "AdvertiseAddr"},
		"advertise with port":   {func(c *Config) { c.AdvertiseAddr = "host:7950" }, "AdvertiseAddr"},
		"dial timeout":          {func(c *Config) { c.DialTimeout = 0 }, "DialTimeout"},
		"frame size":            {func(c *Config) { c.MaxFrameSize = 0 }, "MaxFrameSize"},
		"keepalive":             {func(c *Config) { c.KeepAliveInterval = -time.Second }, "KeepAliveInterval"},
		"idle timeout":          {func(c *Config) { c.StreamIdleTimeout = 0 }, "StreamIdleTimeout"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mut(&c)
			before := c
			err := c.Validate()
			if c != before {
				t.Fatal("Validate mutated the config")
			}
			if tc.field == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("want ErrInvalidConfig naming %s, got %v", tc.field, err)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	c := DefaultLocalConfig()
	c.MaxFrameSize = -1
	if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with bad config: %v", err)
	}
}
