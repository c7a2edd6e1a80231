package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// A KV watch over a real node: the gRPC stream sends the prefix's keys at
// once and again after a write there (not after one elsewhere), and the
// REST blocking query answers a write after its index with the new one.
func TestKVWatch(t *testing.T) {
	oc := newOpsCluster(t, 1)
	n := oc.WaitLeader(20 * time.Second)
	base, grpcAddr, _ := oc.serve(t, n)
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kvc := pb.NewKVClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kvc.Put(ctx, &pb.PutRequest{Key: "w/a", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}

	stream, err := kvc.Watch(ctx, &pb.WatchRequest{Prefix: "w/"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || len(first.GetEntries()) != 1 || first.GetIndex() == 0 {
		t.Fatalf("first watch message = %v, %v; want w/a at once", first, err)
	}
	if _, err := kvc.Put(ctx, &pb.PutRequest{Key: "elsewhere", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := kvc.Put(ctx, &pb.PutRequest{Key: "w/b", Value: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	next, err := stream.Recv()
	if err != nil || len(next.GetEntries()) != 2 || next.GetEntries()[1].GetKey() != "w/b" || next.GetIndex() <= first.GetIndex() {
		t.Fatalf("watch message after a write = %v, %v; want w/a and w/b at a later index", next, err)
	}

	// REST: a blocking query from that index answers the next write.
	type answer struct {
		keys  int
		index uint64
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		url := base + "/v1/kv?prefix=w/&index=" + strconv.FormatUint(next.GetIndex(), 10) + "&wait=20s"
		resp, err := http.Get(url)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var body struct {
			Entries []json.RawMessage `json:"entries"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		idx, _ := strconv.ParseUint(resp.Header.Get("X-Conclave-Index"), 10, 64)
		done <- answer{keys: len(body.Entries), index: idx, err: err}
	}()
	if _, err := kvc.Put(ctx, &pb.PutRequest{Key: "w/c", Value: []byte("3")}); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil || a.keys != 3 || a.index <= next.GetIndex() {
		t.Fatalf("REST blocking query = %d keys, index %d, %v; want 3 keys past index %d", a.keys, a.index, a.err, next.GetIndex())
	}
	resp, err := http.Get(base + "/v1/kv?prefix=w/&index=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("index=x: HTTP %d, want 400", resp.StatusCode)
	}
}
