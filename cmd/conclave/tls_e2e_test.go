package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/pki"
)

// TestE2EMutualTLS runs three real agents with certificates made by
// `conclave tls`, verify_incoming on and a gossip key, and drives them
// through the CLI with the client certificate in the environment: kv put
// and get, a lock, members. A CLI without the certificate is refused in
// one line, and so is an HTTPS client without one.
func TestE2EMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs three agents")
	}
	bin := e2eBuild(t)
	dir := filepath.Join(t.TempDir(), "tls")
	tlsRun := func(args ...string) {
		t.Helper()
		c := &e2eCluster{t: t, bin: bin}
		if r := c.run(append(append([]string{"tls"}, args...), "--dir", dir)...); r.code != 0 {
			t.Fatalf("conclave tls %v: exit %d, %s", args, r.code, r.stderr)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tlsRun("ca", "create")
	for i := 1; i <= 3; i++ {
		tlsRun("cert", "create", "--node", fmt.Sprintf("node-%d", i))
	}
	tlsRun("cert", "create", "--client", "ops")
	keyPath := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(keyPath, []byte("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "conclave-agent-ca.pem")

	c := newE2EClusterWith(t, bin, 3, func(name, y string) string {
		y = strings.Replace(y, "  internode:\n", "    secret_file: "+keyPath+"\n  internode:\n", 1)
		return y + fmt.Sprintf("tls:\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n  verify_incoming: true\n",
			ca, filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
	})
	c.env = []string{
		"CONCLAVE_CACERT=" + ca,
		"CONCLAVE_CLIENT_CERT=" + filepath.Join(dir, "ops.pem"),
		"CONCLAVE_CLIENT_KEY=" + filepath.Join(dir, "ops-key.pem"),
	}
	start := time.Now()
	for _, nd := range c.nodes {
		c.start(nd)
	}
	// node-1's HTTPS address, as its agent bound it.
	httpAddr := c.byName("node-1").httpAddr
	e2eWait(t, start, 20*time.Second, "three TLS agents agree on a leader and 3 voters", func() (bool, string) {
		leaders := map[string]bool{}
		for _, nd := range c.nodes {
			st, why, ok := c.status(nd)
			if !ok {
				return false, nd.name + ": " + why
			}
			if st.LeaderID == "" || st.voters() != 3 {
				return false, fmt.Sprintf("%s: leader %q, %d voters", nd.name, st.LeaderID, st.voters())
			}
			leaders[st.LeaderID] = true
		}
		return len(leaders) == 1, fmt.Sprintf("leaders %v", leaders)
	})

	n1, n3 := c.nodes[0], c.nodes[2]
	c.put(n1, "tls/greeting", "hello")
	if r := c.run("kv", "get", "tls/greeting", "--addr", n3.grpcAddr, "--timeout", e2eCallTimeout); r.code != 0 || r.stdout != "hello\n" {
		t.Fatalf("kv get through node-3: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r := c.run("lock", "run", "tls-demo", "--addr", n3.grpcAddr, "--", "sh", "-c", "echo token $CONCLAVE_LOCK_TOKEN")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "token ") || r.stdout == "token \n" {
		t.Fatalf("lock run: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r = c.run("members", "-o", "json", "--addr", n1.grpcAddr)
	var members []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &members); r.code != 0 || err != nil || len(members) != 3 {
		t.Fatalf("members: exit %d, %d members (%v), %q %q", r.code, len(members), err, r.stdout, r.stderr)
	}

	// Without the client certificate: refused at the handshake, one line.
	r = c.runEnv([]string{"CONCLAVE_CACERT=" + ca}, "kv", "get", "tls/greeting", "--addr", n1.grpcAddr, "--timeout", e2eCallTimeout)
	if r.code != 1 || r.stdout != "" || !e2eOneLine(r.stderr) || !strings.Contains(r.stderr, "requires a client certificate") {
		t.Fatalf("kv get without a client certificate: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Without TLS at all.
	r = c.runEnv(nil, "members", "--addr", n1.grpcAddr, "--timeout", e2eCallTimeout)
	if r.code != 1 || !e2eOneLine(r.stderr) || !strings.Contains(r.stderr, "set --ca-file") {
		t.Fatalf("members in plain text: exit %d, stderr %q", r.code, r.stderr)
	}

	// The HTTPS door, health included, follows the same rule.
	with, err := pki.Load(pki.Files{CA: ca, Cert: filepath.Join(dir, "ops.pem"), Key: filepath.Join(dir, "ops-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	without, err := pki.Load(pki.Files{CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	get := func(c *tls.Config) (int, error) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 5 * time.Second}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get("https://" + httpAddr + "/v1/health/live")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(with.ClientConfig()); err != nil || code != http.StatusOK {
		t.Fatalf("https health with the client certificate: %d %v", code, err)
	}
	if code, err := get(without.ClientConfig()); err == nil {
		t.Fatalf("https health without a client certificate answered %d", code)
	}
}
