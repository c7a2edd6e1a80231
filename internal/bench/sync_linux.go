package bench

import (
	"os"
	"syscall"
)

// datasync is fdatasync(2), which bbolt (under raft-boltdb) uses on Linux:
// the floor must pay what the Raft log pays, not a full fsync's inode write.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fdatasync(int(fd)) }); err != nil {
		return err
	}
	return serr
}
