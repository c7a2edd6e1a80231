package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse: another agent holds the data dir.
var ErrDataDirInUse = errors.New("cluster: data dir is in use by another agent")

// lockFile is the data dir's lock, held (flock) for the node's lifetime and
// holding the holder's PID for the message a second agent prints.
const lockFile = "agent.lock"

// dataDirLock is an exclusive lock on a data dir. Two agents on one data
// dir would both join gossip under the same name and fight over the bolt
// file (whose own lock would make the second wait forever, silently).
//
// fresh is true when the data dir held no state of ours (no _sys) before:
// the node has no previous incarnation on it.
type dataDirLock struct {
	f     *os.File
	fresh bool
}

// lockDataDir takes the lock on dir without waiting: a held lock fails at
// once with ErrDataDirInUse naming the holder's PID when it is known.
func lockDataDir(dir string) (*dataDirLock, error) {
	sys := filepath.Join(dir, "_sys")
	_, statErr := os.Stat(sys)
	fresh := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(sys, 0o750); err != nil {
		return nil, fmt.Errorf("cluster: data dir: %w", err)
	}
	path := filepath.Join(sys, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cluster: data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "unknown pid"
		if b, rerr := os.ReadFile(path); rerr == nil && len(strings.TrimSpace(string(b))) > 0 {
			holder = "pid " + strings.TrimSpace(string(b))
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s holds %s; stop it or give this agent another data_dir", ErrDataDirInUse, holder, dir)
		}
		return nil, fmt.Errorf("cluster: data dir lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dataDirLock{f: f, fresh: fresh}, nil
}

// release drops the lock. The file stays: removing it would race a
// successor that already opened it.
func (l *dataDirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
