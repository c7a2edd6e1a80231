package api

import (
	"context"
	"io"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
	"github.com/conclave-dev/conclave/cluster"
)

// OperatorNode is what the Operator service needs of a node (the methods of
// *cluster.Node).
type OperatorNode interface {
	// SaveSnapshot writes an archive of the replicated state to w (the
	// leader only; cluster.ErrNotLeader elsewhere).
	SaveSnapshot(ctx context.Context, w io.Writer) (cluster.SnapshotInfo, error)
	// RestoreSnapshot replaces the replicated state with the archive read
	// from r (the leader only), checking it whole first.
	RestoreSnapshot(ctx context.Context, r io.Reader) (cluster.SnapshotInfo, error)
	// RemovePeer removes a server that is not alive from the Raft
	// configuration.
	RemovePeer(ctx context.Context, node string) error
}

// snapshotChunkBytes is the size of one streamed piece of an archive, well
// under the gRPC message limits of both sides.
const snapshotChunkBytes = 256 << 10

// operatorService implements conclave.v1.Operator.
type operatorService struct {
	pb.UnimplementedOperatorServer
	node OperatorNode
}

// chunkWriter sends what is written as SnapshotChunk messages.
type chunkWriter struct {
	stream pb.Operator_SnapshotSaveServer
}

func (w chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), snapshotChunkBytes)
		if err := w.stream.Send(&pb.SnapshotChunk{Data: p[:k]}); err != nil {
			return n, err
		}
		n, p = n+k, p[k:]
	}
	return n, nil
}

func (s *operatorService) SnapshotSave(_ *pb.SnapshotSaveRequest, stream pb.Operator_SnapshotSaveServer) error {
	info, err := s.node.SaveSnapshot(stream.Context(), chunkWriter{stream})
	if err != nil {
		return statusError(err)
	}
	return stream.Send(&pb.SnapshotChunk{Info: snapshotInfoToPB(info)})
}

// chunkReader reads a SnapshotRestore stream's data as one byte stream.
type chunkReader struct {
	stream pb.Operator_SnapshotRestoreServer
	buf    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		c, err := r.stream.Recv()
		if err != nil {
			return 0, err // io.EOF at the end of the upload
		}
		r.buf = c.GetData()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *operatorService) SnapshotRestore(stream pb.Operator_SnapshotRestoreServer) error {
	info, err := s.node.RestoreSnapshot(stream.Context(), &chunkReader{stream: stream})
	if err != nil {
		return statusError(err)
	}
	return stream.SendAndClose(snapshotInfoToPB(info))
}

func (s *operatorService) RemovePeer(ctx context.Context, req *pb.RemovePeerRequest) (*pb.RemovePeerResponse, error) {
	if err := s.node.RemovePeer(ctx, req.GetNode()); err != nil {
		return nil, statusError(err)
	}
	return &pb.RemovePeerResponse{}, nil
}

func snapshotInfoToPB(i cluster.SnapshotInfo) *pb.SnapshotInfo {
	return &pb.SnapshotInfo{Index: i.Index, Term: i.Term, Size: i.Size, ClusterId: i.ClusterID, Node: i.Node,
		Created: timestamppb.New(i.Created)}
}
