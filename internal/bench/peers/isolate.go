package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// isolator cuts one member off the network although every member listens
// on 127.0.0.1. Each member process is cloned straight into a cgroup v2
// directory of its own (CLONE_INTO_CGROUP: see procs.start), so every
// socket it ever opens, listening or dialling, TCP or UDP, belongs to that
// cgroup. Isolating the member adds two rules to an nftables table of the
// harness's own: drop every packet a socket of the cgroup sends (hook
// output) and every packet addressed to one (hook input, where nftables
// looks the receiving socket up). Its peers and the harness's clients lose
// it alike, and its connections stall as over a cut cable instead of
// being refused. heal flushes the rules; close deletes the table and the
// cgroups.
//
// It needs root, a cgroup v2 hierarchy under /sys/fs/cgroup (nftables
// resolves cgroup paths there) and nft. The harness calls it from one
// goroutine; fd is also called by procs.start, hence the mutex.
type isolator struct {
	mount string // where cgroup v2 is mounted
	rel   string // our directory, relative to mount
	nft   string // mount relative to /sys/fs/cgroup, for nft's paths ("" or "unified/")
	table string // the nftables table, inet family

	mu  sync.Mutex
	fds map[string]int // open cgroup directories, by process name
}

// newIsolator creates the harness's cgroup directory and nftables table,
// or says why isolation cannot work here. Call close when done.
func newIsolator() (*isolator, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return nil, fmt.Errorf("isolate: nft: %w (apt-get install -y nftables)", err)
	}
	mount, err := cgroup2Mount()
	if err != nil {
		return nil, err
	}
	const sys = "/sys/fs/cgroup"
	if mount != sys && !strings.HasPrefix(mount, sys+"/") {
		return nil, fmt.Errorf("isolate: cgroup v2 is mounted on %s, not under %s where nft resolves cgroup paths", mount, sys)
	}
	iso := &isolator{
		mount: mount,
		rel:   fmt.Sprintf("bench-peers-%d", os.Getpid()),
		nft:   strings.TrimPrefix(strings.TrimPrefix(mount, sys), "/"),
		table: fmt.Sprintf("bench_peers_%d", os.Getpid()),
		fds:   map[string]int{},
	}
	if iso.nft != "" {
		iso.nft += "/"
	}
	if err := os.Mkdir(filepath.Join(mount, iso.rel), 0o755); err != nil {
		return nil, fmt.Errorf("isolate: cgroup: %w", err)
	}
	// Priority -10 puts the drops before any filter chain at 0 (Docker's,
	// for one), whose accept would not stop ours anyway: a drop in any
	// base chain is final.
	script := fmt.Sprintf(`add table inet %[1]s
add chain inet %[1]s input { type filter hook input priority -10; policy accept; }
add chain inet %[1]s output { type filter hook output priority -10; policy accept; }
`, iso.table)
	if err := nft(script); err != nil {
		_ = os.Remove(filepath.Join(mount, iso.rel))
		return nil, err
	}
	return iso, nil
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted (on a hybrid
// system, /sys/fs/cgroup/unified).
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("isolate: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, types := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(types) >= 1 && types[0] == "cgroup2" && fields[3] == "/" {
			return fields[4], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("isolate: mountinfo: %w", err)
	}
	return "", errors.New("isolate: no cgroup v2 hierarchy mounted")
}

// fd returns an open descriptor of name's cgroup directory, creating the
// directory the first time: procs.start clones the process into it. The
// descriptor stays open until close, for every restart of the process.
func (iso *isolator) fd(name string) (int, error) {
	iso.mu.Lock()
	defer iso.mu.Unlock()
	if fd, ok := iso.fds[name]; ok {
		return fd, nil
	}
	dir := filepath.Join(iso.mount, iso.rel, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return -1, fmt.Errorf("isolate: cgroup: %w", err)
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("isolate: open %s: %w", dir, err)
	}
	iso.fds[name] = fd
	return fd, nil
}

// cut isolates the process name, which must have been started in its
// cgroup. Level 2 is the cgroup's depth below the hierarchy's root (our
// directory, then the process's).
func (iso *isolator) cut(name string) error {
	path := iso.nft + iso.rel + "/" + name
	return nft(fmt.Sprintf(`add rule inet %[1]s input socket cgroupv2 level 2 %[2]q counter drop
add rule inet %[1]s output socket cgroupv2 level 2 %[2]q counter drop
`, iso.table, path))
}

// heal removes every isolation rule.
func (iso *isolator) heal() error {
	return nft(fmt.Sprintf("flush chain inet %[1]s input\nflush chain inet %[1]s output\n", iso.table))
}

// close deletes the table, then the cgroup directories, which must be
// empty by then: call it after every process has been killed and reaped.
func (iso *isolator) close() error {
	errs := []error{nft(fmt.Sprintf("delete table inet %s\n", iso.table))}
	iso.mu.Lock()
	defer iso.mu.Unlock()
	for name, fd := range iso.fds {
		_ = syscall.Close(fd)
		if err := os.Remove(filepath.Join(iso.mount, iso.rel, name)); err != nil {
			errs = append(errs, fmt.Errorf("isolate: %w", err))
		}
	}
	iso.fds = map[string]int{}
	if err := os.Remove(filepath.Join(iso.mount, iso.rel)); err != nil {
		errs = append(errs, fmt.Errorf("isolate: %w", err))
	}
	return errors.Join(errs...)
}

// nft runs an nft script, all of it or none (nft -f applies a file as one
// transaction).
func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("isolate: nft: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
