package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/conclave-dev/conclave/gossip"
	"github.com/conclave-dev/conclave/internal/wire"
	"github.com/conclave-dev/conclave/raftcore"
)

// SnapshotInfo describes a snapshot archive.
type SnapshotInfo = raftcore.SnapshotInfo

// MaxSnapshotBytes bounds an archive a node accepts for restore.
const MaxSnapshotBytes = 8 << 30

// SaveSnapshot writes an archive of the whole replicated state (KV, locks,
// names, sessions' holdings, ACLs, admissions, the service registry) to w.
// The leader saves; on another node it fails with raftcore.ErrNotLeader
// naming the leader.
func (n *Node) SaveSnapshot(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	return n.core.SaveSnapshot(ctx, w)
}

// RestoreSnapshot replaces the whole replicated state with the archive read
// from r: the archive is spooled to the data dir and its checksum verified
// first, so a damaged or truncated one changes nothing. The leader
// restores; every node installs the state, and the cluster keeps its own
// Raft configuration. Holdings of sessions whose nodes are not in this
// cluster are released by the leader once those nodes count as gone.
func (n *Node) RestoreSnapshot(ctx context.Context, r io.Reader) (SnapshotInfo, error) {
	// Refused before the upload is spooled, as SaveSnapshot refuses.
	if err := n.core.RequireLeader("snapshot restore"); err != nil {
		return SnapshotInfo{}, err
	}
	f, err := os.CreateTemp(filepath.Join(n.cfg.Cluster.DataDir, "_sys"), "restore-*.snap")
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot restore: spool: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	m, err := io.Copy(f, io.LimitReader(r, MaxSnapshotBytes+1))
	switch {
	case err != nil:
		return SnapshotInfo{}, fmt.Errorf("snapshot restore: receive: %w", err)
	case m > MaxSnapshotBytes:
		return SnapshotInfo{}, fmt.Errorf("snapshot restore: %w: the archive exceeds %d bytes", ErrTooLarge, MaxSnapshotBytes)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return SnapshotInfo{}, err
	}
	if _, err := raftcore.VerifyArchive(f); err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot restore: %w: %w", ErrInvalidArgument, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return SnapshotInfo{}, err
	}
	return n.core.RestoreSnapshot(ctx, f)
}

// RemovePeer removes the server node from the Raft configuration (through
// the leader). A node alive in gossip is refused: the reconciler would add
// it back at once; stop it first, or have it leave.
func (n *Node) RemovePeer(ctx context.Context, node string) error {
	if err := wire.ValidateNode("node", node); err != nil {
		return err
	}
	for _, m := range n.ml.Members() {
		if m.Name == node && m.State == gossip.StateAlive {
			return fmt.Errorf("remove peer %s: %w: stop it first, or run leave on it", node, ErrPeerAlive)
		}
	}
	if err := n.core.RemoveServer(ctx, node); err != nil {
		return fmt.Errorf("remove peer %s: %w", node, err)
	}
	return nil
}

// VerifyArchive reads a whole snapshot archive and checks it (the CLI's
// inspect, and a restore before it uploads).
func VerifyArchive(r io.Reader) (SnapshotInfo, error) { return raftcore.VerifyArchive(r) }
