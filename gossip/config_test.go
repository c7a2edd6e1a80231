package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigsValidate(t *testing.T) {
	for name, c := range map[string]Config{"default": DefaultConfig(), "local": DefaultLocalConfig()} {
		c.Name = "n1" // the hostname may be unavailable in a sandbox
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if d := DefaultConfig(); d.ProbeInterval != time.Second || d.SuspicionMult != 4 || d.DeadNodeReclaimTime <= 0 {
		t.Errorf("DefaultConfig drifted from DESIGN §14: %+v", d)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	tests := map[string]struct {
		mutate func(*Config)
		field  string
	}{
		"no name":           {func(c *Config) { c.Name = "" }, "Name"},
		"bind addr":         {func(c *Config) { c.BindAddr = "localhost" }, "BindAddr"},
		"bind port":         {func(c *Config) { c.BindPort = 70000 }, "BindPort"},
		"advertise addr":    {func(c *Config) { c.AdvertiseAddr = "nope" }, "AdvertiseAddr"},
		"advertise port":    {func(c *Config) { c.AdvertisePort = -1 }, "AdvertisePort"},
		"join no port":      {func(c *Config) { c.JoinAddrs = []string{"ok:1", "node-2"} }, "JoinAddrs[1]"},
		"join bad port":     {func(c *Config) { c.JoinAddrs = []string{"node-2:0"} }, "JoinAddrs[0]"},
		"key size":          {func(c *Config) { c.Keys = [][]byte{make([]byte, 16), make([]byte, 5)} }, "Keys[1]"},
		"probe interval":    {func(c *Config) { c.ProbeInterval = 0 }, "ProbeInterval"},
		"probe timeout":     {func(c *Config) { c.ProbeTimeout = c.ProbeInterval }, "ProbeTimeout"},
		"gossip interval":   {func(c *Config) { c.GossipInterval = -time.Second }, "GossipInterval"},
		"push pull":         {func(c *Config) { c.PushPullInterval = 0 }, "PushPullInterval"},
		"reclaim":           {func(c *Config) { c.DeadNodeReclaimTime = 0 }, "DeadNodeReclaimTime"},
		"tcp timeout":       {func(c *Config) { c.TCPTimeout = 0 }, "TCPTimeout"},
		"discover interval": {func(c *Config) { c.DiscoverFile, c.DiscoverInterval = "/x", 0 }, "DiscoverInterval"},
		"allow only":        {func(c *Config) { c.AllowOnlyInventory = true }, "AllowOnlyInventory"},
		"suspicion":         {func(c *Config) { c.SuspicionMult = 0 }, "SuspicionMult"},
		"gossip nodes":      {func(c *Config) { c.GossipNodes = 0 }, "GossipNodes"},
		"retry min":         {func(c *Config) { c.RetryJoinMin = 0 }, "RetryJoinMin"},
		"retry max < min":   {func(c *Config) { c.RetryJoinMax = c.RetryJoinMin / 2 }, "RetryJoinMax"},
		"rejoin negative":   {func(c *Config) { c.RejoinInterval = -1 }, "RejoinInterval"},
		"forget dead zero":  {func(c *Config) { c.ForgetDeadAfter = 0 }, "ForgetDeadAfter"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultLocalConfig()
			c.Name = "n1"
			tc.mutate(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate err = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("Validate err %q does not name field %s", err, tc.field)
			}
		})
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	c := DefaultLocalConfig()
	c.Name = ""
	if _, err := New(c, Meta{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New(bad config) err = %v, want ErrInvalidConfig", err)
	}
	c.Name = "n1"
	if _, err := New(c, Meta{Nonce: strings.Repeat("x", 600)}); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("New(oversized meta) err = %v, want ErrMetaTooLarge", err)
	}
}
