package raftcore

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// A snapshot archive is what `conclave snapshot save` writes and `restore`
// reads: a header line, one line of JSON metadata, the FSM's snapshot as
// Raft stores it (every table), and a trailer line with the SHA-256 of
// those bytes, so a damaged or truncated file is refused before anything
// is restored.
const archiveMagic = "conclave-snapshot 1"

// ErrNotLeader: the call must be made on the leader; the error names it.
var ErrNotLeader = errors.New("raftcore: not the leader")

// ErrBadArchive: the file is not a snapshot archive, or is damaged.
var ErrBadArchive = errors.New("raftcore: not a valid snapshot archive")

// SnapshotInfo describes an archive.
type SnapshotInfo struct {
	Index     uint64    `json:"index"`
	Term      uint64    `json:"term"`
	Size      int64     `json:"size"`
	ClusterID string    `json:"cluster_id"`
	Node      string    `json:"node"`
	Created   time.Time `json:"created"`
	// SHA256 is the hex digest of the FSM bytes (from the trailer).
	SHA256 string `json:"-"`
}

// RequireLeader is nil on the leader, and otherwise ErrNotLeader naming
// the leader (or ErrUnavailable when none is known).
func (c *Core) RequireLeader(what string) error {
	if c.raft.State() == raft.Leader {
		return nil
	}
	return c.notLeader(what)
}

func (c *Core) notLeader(what string) error {
	_, id := c.raft.LeaderWithID()
	if id == "" {
		return fmt.Errorf("%s: %w: no leader is known now (%w)", what, ErrNotLeader, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w: ask %s", what, ErrNotLeader, id)
}

// SaveSnapshot writes an archive of the whole replicated state to w: the
// leader first waits until it has applied everything committed before the
// call (a barrier), so the archive holds every write acknowledged before
// it. Only the leader saves.
func (c *Core) SaveSnapshot(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	if c.raft.State() != raft.Leader {
		return SnapshotInfo{}, c.notLeader("snapshot save")
	}
	if err := c.awaitCtx(ctx, c.raft.Barrier(c.cfg.ApplyTimeout)); err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot save: barrier: %w", c.unavailable(err))
	}
	f := c.raft.Snapshot()
	if err := c.awaitCtx(ctx, f); err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot save: %w", c.unavailable(err))
	}
	meta, rc, err := f.Open()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot save: open: %w", err)
	}
	defer rc.Close()
	info := SnapshotInfo{Index: meta.Index, Term: meta.Term, Size: meta.Size, ClusterID: c.ClusterID(),
		Node: c.cfg.NodeID, Created: c.now().UTC()}
	return info, writeArchive(w, info, rc)
}

func writeArchive(w io.Writer, info SnapshotInfo, data io.Reader) error {
	head, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%s\n%s\n", archiveMagic, head); err != nil {
		return fmt.Errorf("snapshot save: write: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), data)
	if err != nil {
		return fmt.Errorf("snapshot save: write: %w", err)
	}
	if n != info.Size {
		return fmt.Errorf("snapshot save: the snapshot store gave %d bytes, its metadata says %d", n, info.Size)
	}
	if _, err := fmt.Fprintf(w, "sha256 %x\n", h.Sum(nil)); err != nil {
		return fmt.Errorf("snapshot save: write: %w", err)
	}
	return nil
}

// ReadArchiveHeader reads an archive's metadata and leaves r at the FSM
// bytes (info.Size of them, then the trailer).
func ReadArchiveHeader(r *bufio.Reader) (SnapshotInfo, error) {
	line, err := r.ReadString('\n')
	if err != nil || strings.TrimSuffix(line, "\n") != archiveMagic {
		return SnapshotInfo{}, fmt.Errorf("%w: the first line is not %q", ErrBadArchive, archiveMagic)
	}
	line, err = r.ReadString('\n')
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: no metadata line", ErrBadArchive)
	}
	var info SnapshotInfo
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: metadata: %v", ErrBadArchive, err)
	}
	if info.Size < 0 || info.Index == 0 {
		return SnapshotInfo{}, fmt.Errorf("%w: metadata: size %d, index %d", ErrBadArchive, info.Size, info.Index)
	}
	return info, nil
}

// VerifyArchive reads a whole archive and checks its trailer: the FSM
// bytes are whole and unchanged.
func VerifyArchive(r io.Reader) (SnapshotInfo, error) {
	br := bufio.NewReader(r)
	info, err := ReadArchiveHeader(br)
	if err != nil {
		return SnapshotInfo{}, err
	}
	h := sha256.New()
	if n, err := io.CopyN(h, br, info.Size); err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: truncated: %d of %d bytes of state", ErrBadArchive, n, info.Size)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	line, err := br.ReadString('\n')
	if err != nil || line != "sha256 "+sum+"\n" {
		return SnapshotInfo{}, fmt.Errorf("%w: checksum mismatch or missing trailer (the state's SHA-256 is %s)", ErrBadArchive, sum)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return SnapshotInfo{}, fmt.Errorf("%w: bytes after the trailer", ErrBadArchive)
	}
	info.SHA256 = sum
	return info, nil
}

// RestoreSnapshot replaces the whole replicated state with the archive's
// (read from r, which the caller has checked with VerifyArchive): every
// node installs it, the Raft configuration stays this cluster's. Only the
// leader restores. Nothing changes if the state does not decode.
func (c *Core) RestoreSnapshot(ctx context.Context, r io.Reader) (SnapshotInfo, error) {
	if c.raft.State() != raft.Leader {
		return SnapshotInfo{}, c.notLeader("snapshot restore")
	}
	br := bufio.NewReader(r)
	info, err := ReadArchiveHeader(br)
	if err != nil {
		return SnapshotInfo{}, err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: info.Index, Term: info.Term, Size: info.Size}
	timeout := c.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := c.raft.Restore(meta, io.LimitReader(br, info.Size), timeout); err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot restore: %w", c.unavailable(err))
	}
	c.log.Info().Uint64("index", info.Index).Str("from_cluster", info.ClusterID).Str("from_node", info.Node).
		Msg("snapshot restored")
	return info, nil
}

// awaitCtx is await bounded by ctx as well.
func (c *Core) awaitCtx(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- c.await(f) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unavailable marks Raft's errors of leadership and shutdown as ours.
func (c *Core) unavailable(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return err
}
