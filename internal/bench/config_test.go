package bench

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	for name, cfg := range map[string]Config{"default": DefaultConfig(), "local": DefaultLocalConfig()} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	tests := map[string]struct {
		mutate func(*Config)
		field  string
	}{
		"no nodes":         {func(c *Config) { c.Nodes = 0 }, "nodes"},
		"no floor samples": {func(c *Config) { c.FloorSamples = 0 }, "floor_samples"},
		"no start timeout": {func(c *Config) { c.StartTimeout = 0 }, "start_timeout"},
		"negative op":      {func(c *Config) { c.OpTimeout = -1 }, "op_timeout"},
		"bad log store":    {func(c *Config) { c.LogStore = "lsm" }, "log_store"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultLocalConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}
