package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/pki"
)

// TestE2EReadme runs the README's command blocks against real agents, so
// the README cannot drift from the binary (issue 17).
//
// The convention, in README.md: every ```sh block is preceded by a marker
// line, an HTML comment GitHub does not render:
//
//	<!-- readme-test: dev -->          run against one node, as `make run` starts it
//	<!-- readme-test: cluster -->      run against three nodes with mutual TLS and a
//	                                   gossip key, as `make cluster` starts them
//	<!-- readme-test: cluster-acl -->  the same with ACLs on, default deny (`make cluster ACL=on`)
//	<!-- readme-test: skip: REASON --> not run (set-up, measurements)
//
// A ```sh block without a marker fails the test, so a new block is tested
// or skipped on purpose. In a tested block each line is one command, run
// with bash from a directory laid out like the repository root after
// `make build` and `make cluster` (bin/conclave, .cluster/env,
// .cluster/tls/); exported variables (`. .cluster/env`, `export X=...`)
// carry over to the next line. Then:
//
//   - A command must exit 0, unless its comment starts with a gRPC code
//     name and a colon (`# PermissionDenied: kv "x" needs write access`):
//     then it must exit 1 with that text on stderr.
//   - A comment ending in `-> TEXT` says what the command prints: TEXT must
//     be in its output (for a command in the background, within 10 s).
//   - A command ending in `&` runs in the background: the next line waits
//     until it has printed something (as a reader would); it is
//     interrupted (SIGINT) at the end of the block and must exit 0.
//   - The addresses of `make cluster` (127.0.0.1:7940-7945, the README's
//     table) are replaced by the test agents' (they bind free ports), and
//     CONCLAVE_ADDR points the CLI's default at node-1.
//   - `<SecretID>` is the SecretID the last `acl bootstrap` printed, `<its
//     SecretID>` the one the last `acl token create` printed (readmeSecrets).
//   - Commands the test does the equivalent of itself are skipped
//     (readmeSkipped), and so are lines whose tool is not installed
//     (readmeOptional: curl); comment-only lines are skipped.
//
// A failure names the README line.
func TestE2EReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds the binary and runs agents")
	}
	blocks := readmeBlocks(t, "../../README.md")
	bin := e2eBuild(t)
	for _, b := range blocks {
		if b.kind == "skip" {
			continue
		}
		t.Run(fmt.Sprintf("%s@README.md:%d", b.kind, b.line), func(t *testing.T) {
			runReadmeBlock(t, bin, b)
		})
	}
}

// readmeSkipped are the commands (by first word) a tested block may hold
// that the test does not run, and why.
var readmeSkipped = map[string]string{
	"make": "the test builds the binary and starts the agents itself, on free ports",
}

// readmeOptional are tools a README line may use that a test machine may
// lack: the line is skipped, and says so in the log, where they are not
// installed.
var readmeOptional = map[string]bool{"curl": true}

// readmeSecrets: which command's printed SecretID stands for each
// placeholder.
var readmeSecrets = map[string]string{
	"<SecretID>":     "acl bootstrap",
	"<its SecretID>": "acl token create",
}

// readmeSettles are waits the test makes before a line whose command
// starts with the key, standing in for the second a reader takes to type
// it: what the line relies on that reaches other nodes asynchronously.
var readmeSettles = map[string]func(e *readmeEnv, l readmeLine){
	// A group's membership travels from the member's node to the others
	// as a delta, not through Raft: the broadcasting node must know the
	// member before it can reach it.
	"bin/conclave pg broadcast ": (*readmeEnv).settleGroup,
}

// readmeClusterAddrs are the addresses of `make cluster` (deploy/local,
// checked against scripts/cluster.sh by TestLocalClusterPorts), by node
// index and door; `make run` uses node-1's.
var readmeClusterAddrs = [3][2]string{
	{"127.0.0.1:7940", "127.0.0.1:7941"},
	{"127.0.0.1:7942", "127.0.0.1:7943"},
	{"127.0.0.1:7944", "127.0.0.1:7945"},
}

type readmeBlock struct {
	kind  string // dev, cluster, cluster-acl or skip
	line  int    // of the opening fence
	lines []readmeLine
}

type readmeLine struct {
	n          int    // README line number
	cmd        string // the command, without its comment and a trailing &
	comment    string
	background bool
}

var (
	readmeMarker = regexp.MustCompile(`^<!-- readme-test: (dev|cluster|cluster-acl|skip: .+) -->$`)
	// readmeFails matches a comment that says the command fails: a gRPC
	// code name and a colon.
	readmeFails  = regexp.MustCompile(`^(Canceled|Unknown|InvalidArgument|DeadlineExceeded|NotFound|AlreadyExists|PermissionDenied|ResourceExhausted|FailedPrecondition|Aborted|OutOfRange|Unimplemented|Internal|Unavailable|DataLoss|Unauthenticated): `)
	readmeSecret = regexp.MustCompile(`(?m)^SecretID:\s+(\S+)$`)
)

// readmeBlocks parses the ```sh blocks of the README at path.
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	prev := ""
	for i, l := range strings.Split(string(raw), "\n") {
		n := i + 1
		switch {
		case cur == nil && strings.HasPrefix(l, "```sh"):
			m := readmeMarker.FindStringSubmatch(prev)
			if m == nil {
				t.Fatalf("README.md:%d: a ```sh block without a <!-- readme-test: ... --> marker on the line before (dev, cluster, cluster-acl or skip: REASON)", n)
			}
			kind := m[1]
			if strings.HasPrefix(kind, "skip:") {
				kind = "skip"
			}
			blocks = append(blocks, readmeBlock{kind: kind, line: n})
			cur = &blocks[len(blocks)-1]
		case cur != nil && strings.HasPrefix(l, "```"):
			cur = nil
		case cur != nil:
			if strings.HasSuffix(strings.TrimSpace(l), "\\") {
				t.Fatalf("README.md:%d: a continued line; the README test runs one command a line", n)
			}
			cmd, comment := readmeSplitComment(l)
			bg := strings.HasSuffix(cmd, "&") && !strings.HasSuffix(cmd, "&&")
			if bg {
				cmd = strings.TrimSpace(strings.TrimSuffix(cmd, "&"))
			}
			cur.lines = append(cur.lines, readmeLine{n: n, cmd: cmd, comment: comment, background: bg})
		}
		if strings.TrimSpace(l) != "" {
			prev = strings.TrimSpace(l)
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: block not closed", cur.line)
	}
	return blocks
}

// readmeSplitComment splits a shell line at its first # that starts a word
// outside quotes.
func readmeSplitComment(l string) (cmd, comment string) {
	var quote rune
	for i, r := range l {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return strings.TrimSpace(l[:i]), strings.TrimSpace(l[i+1:])
		}
	}
	return strings.TrimSpace(l), ""
}

// readmeEnv is one block's world: the agents, the directory that stands
// for the repository root, and what earlier lines printed.
type readmeEnv struct {
	t        *testing.T
	c        *e2eCluster
	dir      string
	addrs    *strings.Replacer
	secrets  map[string]string
	acl      bool
	clientTL *tls.Config // nil without TLS
	bg       []*readmeBackground
}

type readmeBackground struct {
	line        readmeLine
	cmd         *exec.Cmd
	done        chan struct{}
	out, errOut string // file paths
}

func runReadmeBlock(t *testing.T, bin string, b readmeBlock) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "conclave")); err != nil {
		t.Fatal(err)
	}
	e := &readmeEnv{t: t, dir: dir, secrets: map[string]string{}, acl: b.kind == "cluster-acl"}
	start := time.Now()
	if b.kind == "dev" {
		e.startDev(bin)
	} else {
		e.startCluster(bin)
	}
	t.Logf("%d agent(s) ready in %s", len(e.c.nodes), time.Since(start).Round(time.Millisecond))
	var pairs []string
	for i, nd := range e.c.nodes {
		pairs = append(pairs, readmeClusterAddrs[i][0], nd.grpcAddr, readmeClusterAddrs[i][1], nd.httpAddr)
	}
	e.addrs = strings.NewReplacer(pairs...)
	// Interrupt what is still in the background if the block fails.
	t.Cleanup(func() {
		for _, p := range e.bg {
			select {
			case <-p.done:
			default:
				_ = p.cmd.Process.Signal(syscall.SIGKILL)
				<-p.done
			}
		}
	})

	for _, l := range b.lines {
		if l.cmd == "" {
			continue
		}
		first := strings.Fields(l.cmd)[0]
		if why, ok := readmeSkipped[first]; ok {
			t.Logf("README.md:%d: skipped %q: %s", l.n, l.cmd, why)
			continue
		}
		if readmeOptional[first] {
			if _, err := exec.LookPath(first); err != nil {
				t.Logf("README.md:%d: skipped %q: %s is not installed here", l.n, l.cmd, first)
				continue
			}
		}
		e.waitBackground()
		for prefix, settle := range readmeSettles {
			if strings.HasPrefix(l.cmd, prefix) {
				settle(e, l)
			}
		}
		if l.background {
			e.startBackground(l)
			continue
		}
		e.runLine(l)
	}
	e.waitBackground()
	e.stopBackground()
}

// startDev starts one node as `make run` does (`agent --dev`: bootstrap
// alone, loopback, plain text), on free ports.
func (e *readmeEnv) startDev(bin string) {
	e.c = newE2EClusterWith(e.t, bin, 1, func(_, y string) string {
		return strings.Replace(y, "bootstrap_expect: 3", "bootstrap_expect: 1", 1)
	})
	e.c.start(e.c.nodes[0])
	e2eWait(e.t, time.Now(), 20*time.Second, "the dev node leads", func() (bool, string) {
		st, why, ok := e.c.status(e.c.nodes[0])
		return ok && st.LeaderID != "", why
	})
}

// startCluster starts three nodes as `make cluster` does: certificates
// made by `conclave tls` and a gossip key in .cluster/, .cluster/env
// written as scripts/cluster.sh writes it, every door with mutual TLS,
// and ACLs on (default deny) for cluster-acl.
func (e *readmeEnv) startCluster(bin string) {
	t := e.t
	tlsDir := filepath.Join(e.dir, ".cluster", "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mk := &e2eCluster{t: t, bin: bin}
	for _, args := range [][]string{{"ca", "create"}, {"cert", "create", "--node", "node-1"}, {"cert", "create", "--node", "node-2"},
		{"cert", "create", "--node", "node-3"}, {"cert", "create", "--client", "client"}} {
		if r := mk.run(append(append([]string{"tls"}, args...), "--dir", tlsDir)...); r.code != 0 {
			t.Fatalf("conclave tls %v: exit %d, %s", args, r.code, r.stderr)
		}
	}
	keyPath := filepath.Join(e.dir, ".cluster", "gossip.key")
	if err := os.WriteFile(keyPath, []byte("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(tlsDir, "conclave-agent-ca.pem")
	cert, key := filepath.Join(tlsDir, "client.pem"), filepath.Join(tlsDir, "client-key.pem")
	env := fmt.Sprintf("export CONCLAVE_CACERT=%s\nexport CONCLAVE_CLIENT_CERT=%s\nexport CONCLAVE_CLIENT_KEY=%s\n", ca, cert, key)
	if err := os.WriteFile(filepath.Join(e.dir, ".cluster", "env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := pki.Load(pki.Files{CA: ca, Cert: cert, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	e.clientTL = src.ClientConfig()

	e.c = newE2EClusterWith(t, bin, 3, func(name, y string) string {
		y = strings.Replace(y, "  internode:\n", "    secret_file: "+keyPath+"\n  internode:\n", 1)
		y += fmt.Sprintf("tls:\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n  verify_incoming: true\n",
			ca, filepath.Join(tlsDir, name+".pem"), filepath.Join(tlsDir, name+"-key.pem"))
		if e.acl {
			y += "acl:\n  enabled: true\n  default_policy: deny\n"
		}
		return y
	})
	// The harness's own calls (status) carry the client certificate; the
	// README's lines get it only from `. .cluster/env`.
	e.c.env = []string{"CONCLAVE_CACERT=" + ca, "CONCLAVE_CLIENT_CERT=" + cert, "CONCLAVE_CLIENT_KEY=" + key}
	start := time.Now()
	for _, nd := range e.c.nodes {
		e.c.start(nd)
	}
	// As scripts/cluster.sh waits: every node names the same leader (with
	// ACLs on, from the readiness check, which needs no token).
	e2eWait(t, start, 20*time.Second, "every node names the same leader", func() (bool, string) {
		leaders := map[string]bool{}
		for _, nd := range e.c.nodes {
			if e.acl {
				code, body := e.httpsGet("https://" + nd.httpAddr + "/v1/health/ready")
				if code != http.StatusOK {
					return false, fmt.Sprintf("%s: ready %d %s", nd.name, code, body)
				}
				leaders["(ready)"] = true
				continue
			}
			st, why, ok := e.c.status(nd)
			if !ok || st.LeaderID == "" {
				return false, nd.name + ": " + why
			}
			leaders[st.LeaderID] = true
		}
		return len(leaders) == 1, fmt.Sprintf("leaders %v", leaders)
	})
}

// httpsGet GETs url with the client certificate; code 0 when it failed.
func (e *readmeEnv) httpsGet(url string) (int, string) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.clientTL}, Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var sb strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		sb.WriteString(sc.Text())
	}
	return resp.StatusCode, sb.String()
}

// script is the bash that runs one README command: it loads what earlier
// lines exported, runs it, and saves the CONCLAVE_* variables again.
func (e *readmeEnv) script(l readmeLine, background bool) string {
	cmd := e.addrs.Replace(l.cmd)
	for ph, secret := range e.secrets {
		cmd = strings.ReplaceAll(cmd, ph, secret)
	}
	if m := regexp.MustCompile(`<[A-Za-z][A-Za-z ]*>`).FindString(cmd); m != "" {
		e.t.Fatalf("README.md:%d: placeholder %s has no value yet (readmeSecrets: %v)", l.n, m, readmeSecrets)
	}
	load := "if [ -f .readme-state ]; then . ./.readme-state; fi\n"
	if background {
		return load + "exec " + cmd + "\n"
	}
	return load + cmd + "\nrc=$?\nexport -p | grep -E '^declare -x CONCLAVE_' > .readme-state\nexit $rc\n"
}

func (e *readmeEnv) command(ctx context.Context, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = e.dir
	// The CLI's default address (127.0.0.1:7940) stands for node-1.
	cmd.Env = e2eEnviron([]string{"CONCLAVE_ADDR=" + e.c.nodes[0].grpcAddr})
	return cmd
}

// runLine runs one foreground command and checks it as the README says.
func (e *readmeEnv) runLine(l readmeLine) {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), e2eHardTimeout)
	defer cancel()
	cmd := e.command(ctx, e.script(l, false))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("README.md:%d: %s: still running after %s", l.n, l.cmd, e2eHardTimeout)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("README.md:%d: %s: %v", l.n, l.cmd, err)
	}
	code := cmd.ProcessState.ExitCode()
	if m := readmeFails.FindString(l.comment); m != "" {
		if code != 1 || !strings.Contains(stderr.String(), l.comment) {
			t.Fatalf("README.md:%d: %s: exit %d, stderr %q; the README says it fails with %q", l.n, l.cmd, code, stderr.String(), l.comment)
		}
	} else if code != 0 {
		t.Fatalf("README.md:%d: %s: exit %d\nstdout: %s\nstderr: %s", l.n, l.cmd, code, stdout.String(), stderr.String())
	}
	if want := readmeWant(l.comment); want != "" && !strings.Contains(stdout.String(), want) {
		t.Fatalf("README.md:%d: %s: printed %q; the README says it prints %q", l.n, l.cmd, stdout.String(), want)
	}
	t.Logf("README.md:%d: %s: ok", l.n, l.cmd)
	for ph, by := range readmeSecrets {
		if !strings.Contains(l.cmd, by) {
			continue
		}
		m := readmeSecret.FindStringSubmatch(stdout.String())
		if m == nil {
			t.Fatalf("README.md:%d: %s: printed no SecretID for %s: %q", l.n, l.cmd, ph, stdout.String())
		}
		e.secrets[ph] = m[1]
		e.waitTokenEverywhere(l, m[1])
	}
}

// waitTokenEverywhere waits until every node knows a token just made: a
// reader types the next line after a second or two, in which the token
// reaches every node's copy of the ACL table; the test waits for exactly
// that instead.
func (e *readmeEnv) waitTokenEverywhere(l readmeLine, secret string) {
	env := append(append([]string{}, e.c.env...), "CONCLAVE_TOKEN="+secret)
	e2eWait(e.t, time.Now(), 10*time.Second, fmt.Sprintf("README.md:%d: the token is known to every node", l.n), func() (bool, string) {
		for _, nd := range e.c.nodes {
			r := e.c.runEnv(env, "acl", "whoami", "--addr", nd.grpcAddr, "--timeout", e2eCallTimeout)
			if r.code != 0 {
				return false, nd.name + ": " + strings.TrimSpace(r.stderr)
			}
		}
		return true, ""
	})
}

// readmeWant is what a comment says the command prints (after its last
// "-> "), or "".
func readmeWant(comment string) string {
	i := strings.LastIndex(comment, "-> ")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(comment[i+3:])
}

// startBackground starts a command the README runs with &; its output goes
// to files the test reads while it runs.
func (e *readmeEnv) startBackground(l readmeLine) {
	t := e.t
	p := &readmeBackground{line: l, done: make(chan struct{}),
		out: filepath.Join(t.TempDir(), "stdout"), errOut: filepath.Join(t.TempDir(), "stderr")}
	outF, err := os.Create(p.out)
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(p.errOut)
	if err != nil {
		_ = outF.Close()
		t.Fatal(err)
	}
	p.cmd = e.command(context.Background(), e.script(l, true))
	p.cmd.Stdout, p.cmd.Stderr = outF, errF
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("README.md:%d: %s: %v", l.n, l.cmd, err)
	}
	// This goroutine only reaps the process; the block's cleanup kills it
	// and waits on done.
	go func() {
		_ = p.cmd.Wait()
		_ = outF.Close()
		_ = errF.Close()
		close(p.done)
	}()
	e.bg = append(e.bg, p)
}

func (p *readmeBackground) output() string {
	o, _ := os.ReadFile(p.out)
	er, _ := os.ReadFile(p.errOut)
	return string(o) + string(er)
}

// waitBackground waits until every background command has printed
// something (it is registered, joined, ...), failing if one exited first.
func (e *readmeEnv) waitBackground() {
	for _, p := range e.bg {
		e2eWait(e.t, time.Now(), 10*time.Second, fmt.Sprintf("README.md:%d: %s prints its first line", p.line.n, p.line.cmd), func() (bool, string) {
			select {
			case <-p.done:
				e.t.Fatalf("README.md:%d: %s: exited %d: %s", p.line.n, p.line.cmd, p.cmd.ProcessState.ExitCode(), p.output())
			default:
			}
			return p.output() != "", "nothing yet"
		})
	}
}

// stopBackground checks what each background command printed, interrupts
// it and wants it to exit 0.
func (e *readmeEnv) stopBackground() {
	t := e.t
	for _, p := range e.bg {
		if want := readmeWant(p.line.comment); want != "" {
			e2eWait(t, time.Now(), 10*time.Second, fmt.Sprintf("README.md:%d: %s prints %q", p.line.n, p.line.cmd, want), func() (bool, string) {
				out := p.output()
				return strings.Contains(out, want), fmt.Sprintf("printed %q", out)
			})
		}
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatalf("README.md:%d: %s: interrupt: %v", p.line.n, p.line.cmd, err)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("README.md:%d: %s: still running 10s after SIGINT", p.line.n, p.line.cmd)
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("README.md:%d: %s: exit %d after SIGINT: %s", p.line.n, p.line.cmd, code, p.output())
		}
		t.Logf("README.md:%d: %s: ok", p.line.n, p.line.cmd)
	}
}

// settleGroup waits until the node a `pg broadcast GROUP ...` line talks
// to lists a member of GROUP.
func (e *readmeEnv) settleGroup(l readmeLine) {
	f := strings.Fields(e.addrs.Replace(l.cmd))
	group, addr := f[3], e.c.nodes[0].grpcAddr
	for i := range f[:len(f)-1] {
		if f[i] == "--addr" {
			addr = f[i+1]
		}
	}
	e2eWait(e.t, time.Now(), 10*time.Second, fmt.Sprintf("README.md:%d: %s knows a member of %s", l.n, addr, group), func() (bool, string) {
		r := e.c.run("pg", "members", group, "--addr", addr, "--timeout", e2eCallTimeout)
		// A header line, then one line per member.
		return r.code == 0 && strings.Count(r.stdout, "\n") > 1, r.stdout + r.stderr
	})
}
