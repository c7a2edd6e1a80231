package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// procs starts the server processes of the benchmark and kills them: every
// process it started is killed by killAll, which main defers, so no exit
// path (a failed workload, Ctrl-C, a returned error) leaves one running.
// Each child also gets SIGKILL from the kernel if the harness itself dies
// (Pdeathsig), and runs in its own process group so that the terminal's
// Ctrl-C reaches the harness only, which then kills it.
type procs struct {
	// cgroups, if set, gives each process a cgroup of its own to be
	// cloned into (the fault schedule's isolation); nil leaves processes
	// in the harness's cgroup.
	cgroups *isolator

	mu  sync.Mutex
	all []*proc
}

// proc is one server process and the goroutine that waits for it.
type proc struct {
	name string
	log  string // its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed once the process exited and was reaped
}

// start runs bin with args, its output appended to logPath.
func (ps *procs) start(name, logPath, bin string, args ...string) (*proc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if ps.cgroups != nil {
		fd, err := ps.cgroups.fd(name)
		if err != nil {
			_ = out.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = out.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (kill -9) and waits until the process is reaped.
// Killing an ended process does nothing.
func (p *proc) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// signal sends sig (SIGSTOP, SIGCONT) to the process if it is running.
func (p *proc) signal(sig syscall.Signal) error {
	if p.exited() {
		return fmt.Errorf("%s: exited", p.name)
	}
	return p.cmd.Process.Signal(sig)
}

// tail returns the last n lines of the process's log, for error messages.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// killAll kills every process started so far and waits for each.
func (ps *procs) killAll() {
	ps.mu.Lock()
	all := ps.all
	ps.all = nil
	ps.mu.Unlock()
	for _, p := range all {
		p.kill()
	}
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago: each is bound with port 0 and released once all are chosen.
func freePorts(n int) ([]int, error) {
	var (
		lns   []net.Listener
		ports []int
		errs  []error
	)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			errs = append(errs, err)
			break
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("free ports: %w", err)
	}
	return ports, nil
}
