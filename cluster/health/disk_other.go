//go:build !linux

package health

import (
	"errors"
	"fmt"
)

// StatfsDisk is the real Disk; off Linux it does not read the free space
// and disk_free warns saying so.
type StatfsDisk struct{}

// Free returns an error wrapping errors.ErrUnsupported: statfs is read on
// Linux only.
func (StatfsDisk) Free(path string) (free, total uint64, err error) {
	return 0, 0, fmt.Errorf("free space of %s: %w", path, errors.ErrUnsupported)
}
