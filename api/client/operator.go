package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Operator saves and restores snapshots of the whole replicated state and
// removes Raft peers (the Operator service). Snapshot calls must reach the
// leader: another agent fails them FailedPrecondition naming the leader
// (IsNotHolder's code; see the CLI's snapshot verbs, which follow it).
type Operator struct{ c pb.OperatorClient }

// Operator returns the operator calls of the client's agent.
func (c *Client) Operator() *Operator { return &Operator{c: pb.NewOperatorClient(c.conn)} }

// SnapshotInfo describes a snapshot archive.
type SnapshotInfo struct {
	Index, Term uint64 // of the last entry the state includes
	Size        int64  // bytes of state
	ClusterID   string
	Node        string // that took it
	Created     time.Time
}

func snapshotInfoFromPB(i *pb.SnapshotInfo) SnapshotInfo {
	return SnapshotInfo{Index: i.GetIndex(), Term: i.GetTerm(), Size: i.GetSize(), ClusterID: i.GetClusterId(),
		Node: i.GetNode(), Created: i.GetCreated().AsTime()}
}

// SnapshotSave writes the archive the leader streams to w and returns its
// description. On error w may hold part of an archive: discard it.
func (o *Operator) SnapshotSave(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	stream, err := o.c.SnapshotSave(ctx, &pb.SnapshotSaveRequest{})
	if err != nil {
		return SnapshotInfo{}, err
	}
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return SnapshotInfo{}, errors.New("client: snapshot save: the stream ended without the archive's description")
		}
		if err != nil {
			return SnapshotInfo{}, err
		}
		if len(chunk.GetData()) > 0 {
			if _, err := w.Write(chunk.GetData()); err != nil {
				return SnapshotInfo{}, fmt.Errorf("client: snapshot save: write: %w", err)
			}
		}
		if chunk.GetInfo() != nil {
			return snapshotInfoFromPB(chunk.GetInfo()), nil
		}
	}
}

// snapshotChunkBytes is the size of one uploaded piece of an archive.
const snapshotChunkBytes = 256 << 10

// SnapshotRestore uploads the archive read from r to the leader, which
// checks it whole and then replaces the cluster's state with it.
func (o *Operator) SnapshotRestore(ctx context.Context, r io.Reader) (SnapshotInfo, error) {
	stream, err := o.c.SnapshotRestore(ctx)
	if err != nil {
		return SnapshotInfo{}, err
	}
	buf := make([]byte, snapshotChunkBytes)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := stream.Send(&pb.SnapshotChunk{Data: buf[:n]}); err != nil {
				if errors.Is(err, io.EOF) {
					break // the server answered early: CloseAndRecv has why
				}
				return SnapshotInfo{}, err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return SnapshotInfo{}, fmt.Errorf("client: snapshot restore: read: %w", rerr)
		}
	}
	info, err := stream.CloseAndRecv()
	if err != nil {
		return SnapshotInfo{}, err
	}
	return snapshotInfoFromPB(info), nil
}

// RemovePeer removes a server that is gone for good from the Raft
// configuration; a node alive in gossip is refused (FailedPrecondition).
func (o *Operator) RemovePeer(ctx context.Context, node string) error {
	_, err := o.c.RemovePeer(ctx, &pb.RemovePeerRequest{Node: node})
	return err
}
