package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
)

func parseAgentFlags(t *testing.T, args ...string) (*pflag.FlagSet, agentFlags) {
	t.Helper()
	var f agentFlags
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return fs, f
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "conclave.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildConfigNeedsConfigOrDev(t *testing.T) {
	fs, f := parseAgentFlags(t, "--name", "x")
	_, cleanup, err := buildConfig(fs, f)
	cleanup()
	if err == nil || !strings.Contains(err.Error(), "--config") || !strings.Contains(err.Error(), "--dev") {
		t.Fatalf("err = %v, want one naming --config and --dev", err)
	}
}

func TestBuildConfigDevThrowawayDir(t *testing.T) {
	fs, f := parseAgentFlags(t, "--dev")
	cfg, cleanup, err := buildConfig(fs, f)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Dev()
	if cfg.Cluster.Name != want.Cluster.Name || cfg.Cluster.Raft.BootstrapExpect != 1 {
		t.Fatalf("dev config = %+v", cfg.Cluster)
	}
	dir := cfg.Cluster.DataDir
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("dev data dir %q: %v", dir, err)
	}
	cleanup()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cleanup left %q: %v", dir, err)
	}

	// --data-dir keeps the state where asked, and cleanup leaves it alone.
	keep := t.TempDir()
	fs, f = parseAgentFlags(t, "--dev", "--data-dir", keep)
	cfg, cleanup, err = buildConfig(fs, f)
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if cfg.Cluster.DataDir != keep {
		t.Fatalf("data dir = %q, want %q", cfg.Cluster.DataDir, keep)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("cleanup removed the operator's dir: %v", err)
	}
}

func TestBuildConfigFlagsOverrideFile(t *testing.T) {
	path := writeConfig(t, `
cluster:
  name: from-file
  data_dir: /tmp/from-file
  failure_domain: az-file
  membership:
    bind_addr: 127.0.0.1
    bind_port: 7000
    join_addrs: "f1:7000"
  raft:
    bootstrap_expect: 5
api:
  grpc_addr: 127.0.0.1:1111
log:
  level: warn
`)
	fs, f := parseAgentFlags(t, "--config", path,
		"--name", "flagged", "--bind-port", "7001", "--join", "a:1,b:2", "--join", "c:3",
		"--bootstrap-expect", "3", "--http-addr", "127.0.0.1:2222", "--log-format", "console",
		"--advertise", "10.1.1.1", "--bind", "127.0.0.2", "--failure-domain", "az-flag", "--log-level", "debug",
		"--grpc-addr", "127.0.0.1:3333")
	cfg, cleanup, err := buildConfig(fs, f)
	defer cleanup()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	got := []any{c.Name, c.DataDir, c.FailureDomain, c.Membership.BindAddr, c.Membership.BindPort,
		c.Membership.AdvertiseAddr, []string(c.Membership.JoinAddrs), c.Raft.BootstrapExpect,
		cfg.API.GRPCAddr, cfg.API.HTTPAddr, cfg.Log.Level, cfg.Log.Format}
	want := []any{"flagged", "/tmp/from-file", "az-flag", "127.0.0.2", 7001,
		"10.1.1.1", []string{"a:1", "b:2", "c:3"}, 3,
		"127.0.0.1:3333", "127.0.0.1:2222", "debug", "console"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config fields\n got %v\nwant %v", got, want)
	}

	// Flags not given leave the file alone.
	fs, f = parseAgentFlags(t, "--config", path)
	cfg, cleanup2, err := buildConfig(fs, f)
	defer cleanup2()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Name != "from-file" || cfg.Cluster.Membership.BindPort != 7000 || cfg.API.GRPCAddr != "127.0.0.1:1111" ||
		cfg.Log.Level != "warn" || !reflect.DeepEqual([]string(cfg.Cluster.Membership.JoinAddrs), []string{"f1:7000"}) {
		t.Fatalf("file values lost: %+v", cfg)
	}
}

func TestBuildConfigValidatesAfterOverrides(t *testing.T) {
	path := writeConfig(t, "cluster:\n  name: ok\n  data_dir: /tmp/x\n")
	fs, f := parseAgentFlags(t, "--config", path, "--log-format", "xml")
	_, cleanup, err := buildConfig(fs, f)
	cleanup()
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "log.format") {
		t.Fatalf("err = %v, want a config error naming log.format", err)
	}

	// A bad override in dev mode must not leak the throwaway dir. The dev
	// dir goes under a TMPDIR of this test's own: in the shared one, a
	// dev agent of another test run (a second `make test` beside this
	// one) makes and removes conclave-dev-* dirs between the two globs.
	t.Setenv("TMPDIR", t.TempDir())
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "conclave-dev-*"))
	fs, f = parseAgentFlags(t, "--dev", "--bind-port", "70000")
	_, cleanup, err = buildConfig(fs, f)
	cleanup()
	if err == nil || !strings.Contains(err.Error(), "cluster.membership.bind_port") {
		t.Fatalf("err = %v, want one naming cluster.membership.bind_port", err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "conclave-dev-*"))
	if len(after) > len(before) {
		t.Fatalf("failed dev start leaked a data dir: %v", after)
	}
}

func TestNewLogger(t *testing.T) {
	var buf syncBuffer
	l, err := newLogger(config.LogConfig{Level: "warn", Format: "json"}, &buf, false)
	if err != nil {
		t.Fatal(err)
	}
	l.Info().Msg("hidden")
	l.Warn().Msg("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"message":"shown"`) {
		t.Fatalf("json log output %q", out)
	}
	if _, err := newLogger(config.LogConfig{Level: "loud", Format: "json"}, &buf, false); err == nil {
		t.Fatal("bad level accepted")
	}
	if _, err := newLogger(config.LogConfig{Level: "info", Format: "xml"}, &buf, false); err == nil {
		t.Fatal("bad format accepted")
	}
}

// agentRun runs `conclave agent --dev` against a fake node on ephemeral
// ports and returns the API address from the startup log line.
type agentRun struct {
	node     *fakeNode
	logs     *syncBuffer
	addr     string
	httpAddr string
	cancel   context.CancelFunc
	exit     chan int
}

func startAgent(t *testing.T, extra ...string) *agentRun {
	t.Helper()
	a := &agentRun{node: newFakeNode("dev"), logs: &syncBuffer{}, exit: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	e := env{
		lookup: func(string) (string, bool) { return "", false },
		newNode: func(cfg config.Config, _ ...cluster.Option) (agentNode, api.Services, error) {
			return a.node, a.node.services(), nil
		},
	}
	args := append([]string{"agent", "--dev", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-format", "json"}, extra...)
	go func() { a.exit <- run(ctx, args, e, strings.NewReader(""), &syncBuffer{}, a.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.exit:
		case <-time.After(10 * time.Second):
			t.Error("agent did not exit")
		}
	})
	waitFor(t, 10*time.Second, func() bool {
		sc := bufio.NewScanner(strings.NewReader(a.logs.String()))
		for sc.Scan() {
			var line struct {
				Message  string `json:"message"`
				GRPCAddr string `json:"grpc_addr"`
				HTTPAddr string `json:"http_addr"`
				Node     string `json:"node"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "agent started" {
				if line.Node != "dev" {
					t.Errorf("startup line lacks node=dev: %s", sc.Text())
				}
				a.addr, a.httpAddr = line.GRPCAddr, line.HTTPAddr
				return true
			}
		}
		return false
	})
	return a
}

func (a *agentRun) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-a.exit:
		a.exit <- code // for Cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not exit")
		return -1
	}
}

func TestAgentExitsAfterLeave(t *testing.T) {
	a := startAgent(t)
	c, err := client.New(a.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The agent stops its API because the node left; the Leave call that
	// caused it still gets its answer.
	node, err := c.Leave(ctx)
	if err != nil || node != "dev" {
		t.Fatalf("leave = %q, %v", node, err)
	}
	if code := a.waitExit(t); code != 0 {
		t.Fatalf("exit code %d after leave, logs:\n%s", code, a.logs.String())
	}
}

func TestAgentShutsDownOnSignal(t *testing.T) {
	a := startAgent(t)
	// Cancelling the command's ctx is what signal.NotifyContext does on
	// SIGINT/SIGTERM.
	a.cancel()
	if code := a.waitExit(t); code != 0 {
		t.Fatalf("exit code %d, logs:\n%s", code, a.logs.String())
	}
	a.node.mu.Lock()
	defer a.node.mu.Unlock()
	if a.node.shutdowns != 1 {
		t.Fatalf("node.Shutdown called %d times, want 1", a.node.shutdowns)
	}
}

func TestAgentStartupFailure(t *testing.T) {
	var stderr syncBuffer
	e := env{
		lookup: func(string) (string, bool) { return "", false },
		newNode: func(config.Config, ...cluster.Option) (agentNode, api.Services, error) {
			return nil, api.Services{}, errors.New("cluster: gossip: bind: address already in use")
		},
	}
	code := run(context.Background(), []string{"agent", "--dev", "--log-level", "error"}, e, strings.NewReader(""), &syncBuffer{}, &stderr)
	out := stderr.String()
	if code != 1 || !strings.HasSuffix(out, "conclave: agent: cluster: gossip: bind: address already in use\n") {
		t.Fatalf("exit %d, stderr %q", code, out)
	}
}
