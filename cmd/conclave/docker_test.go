package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// compose returns the command that runs Docker Compose here (the v2 plugin
// or the v1 binary), or nil.
func compose() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	return nil
}

// TestDockerCompose builds the FROM-scratch image (make docker's script),
// starts deploy/compose.yaml's three nodes and waits until they have formed
// a cluster with a leader and three voters, seen through node1's published
// HTTP port. Skipped when no Docker engine answers.
func TestDockerCompose(t *testing.T) {
	if os.Getenv("CONCLAVE_SKIP_DOCKER") != "" {
		t.Skip("CONCLAVE_SKIP_DOCKER set: docker test skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	info := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
	out, err := info.Output()
	cancel()
	if err != nil {
		t.Skipf("no Docker engine reachable (docker info: %v): docker test skipped", err)
	}
	dc := compose()
	if dc == nil {
		t.Skip("Docker Compose not installed (neither `docker compose` nor docker-compose): docker test skipped")
	}
	t.Logf("docker engine %s, compose %v", strings.TrimSpace(string(out)), dc)

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	image := "conclave-test:" + suffix
	project := "conclavetest" + suffix
	run := func(timeout time.Duration, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CONCLAVE_IMAGE="+image, "COMPOSE_PROJECT_NAME="+project)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	dcArgs := func(args ...string) []string {
		return append(append(dc[1:], "-f", "deploy/compose.yaml"), args...)
	}

	t.Log(run(8*time.Minute, "bash", "scripts/docker-build.sh", image))
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })

	t.Cleanup(func() {
		if t.Failed() {
			logs := exec.Command(dc[0], dcArgs("logs", "--tail", "30")...)
			logs.Dir = root
			logs.Env = append(os.Environ(), "CONCLAVE_IMAGE="+image, "COMPOSE_PROJECT_NAME="+project)
			b, _ := logs.CombinedOutput()
			t.Logf("container logs:\n%s", b)
		}
		down := exec.Command(dc[0], dcArgs("down", "-v", "--timeout", "10")...)
		down.Dir = root
		down.Env = append(os.Environ(), "CONCLAVE_IMAGE="+image, "COMPOSE_PROJECT_NAME="+project)
		if b, err := down.CombinedOutput(); err != nil {
			t.Logf("compose down: %v\n%s", err, b)
		}
	})
	start := time.Now()
	run(2*time.Minute, dc[0], dcArgs("up", "-d")...)
	httpAddr := run(30*time.Second, dc[0], dcArgs("port", "node1", "7941")...)
	// docker-compose v1 may print 0.0.0.0 for a 127.0.0.1 binding's host.
	httpAddr = strings.Replace(httpAddr, "0.0.0.0:", "127.0.0.1:", 1)

	type raft struct {
		LeaderID string `json:"leader_id"`
		Servers  []struct {
			ID   string `json:"id"`
			Role string `json:"role"`
		} `json:"servers"`
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for {
		var st raft
		resp, err := client.Get("http://" + httpAddr + "/v1/raft")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
		}
		voters := 0
		for _, s := range st.Servers {
			if s.Role == "voter" {
				voters++
			}
		}
		last = fmt.Sprintf("leader %q, %d voters, err %v", st.LeaderID, voters, err)
		if err == nil && st.LeaderID != "" && voters == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("compose cluster did not form within 90s: %s", last)
		}
		time.Sleep(250 * time.Millisecond) // polling a container: no event to wait on
	}
	t.Logf("compose cluster formed %s after `up`: %s", time.Since(start).Round(time.Millisecond), last)

	resp, err := client.Get("http://" + httpAddr + "/v1/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("node1 ready = %d, want 200", resp.StatusCode)
	}
}
