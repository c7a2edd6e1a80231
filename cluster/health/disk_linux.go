//go:build linux

package health

import (
	"fmt"
	"syscall"
)

// StatfsDisk is the real Disk: statfs(2) on the path.
type StatfsDisk struct{}

// Free returns the blocks available to unprivileged users and the
// filesystem's size, in bytes.
func (StatfsDisk) Free(path string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, nil
}
