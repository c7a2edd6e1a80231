package internode

import (
	"context"
	"testing"
)

// BenchmarkRequest measures one small request/reply over loopback: the cost
// forwarding adds to a write on a non-leader.
func BenchmarkRequest(b *testing.B) {
	a, srv := newMesh(b, nil), newMesh(b, nil)
	srv.Handle(ClassForward, echo)
	ctx := context.Background()
	req := make([]byte, 128)
	if _, err := a.Request(ctx, srv.Addr(), ClassForward, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Request(ctx, srv.Addr(), ClassForward, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
