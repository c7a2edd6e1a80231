package client

import (
	"context"
	"errors"
	"io"

	pb "github.com/conclave-dev/conclave/api/conclavepb"
)

// Watch streams the keys with prefix: fn gets every key of the prefix the
// token may read at once, then again each time a key there is written or
// deleted, with the index to resume from (pass it as after to a new Watch;
// 0 starts with the current keys). It returns when ctx ends (nil), when
// fn returns an error (that error), or when the stream fails.
func (k *KV) Watch(ctx context.Context, prefix string, after uint64, fn func(entries []KVEntry, index uint64) error) error {
	stream, err := k.c.Watch(ctx, &pb.WatchRequest{Prefix: prefix, AfterIndex: after})
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, io.EOF):
			return errors.New("client: kv watch: the agent ended the stream")
		case err != nil:
			return err
		}
		es := make([]KVEntry, 0, len(resp.GetEntries()))
		for _, e := range resp.GetEntries() {
			es = append(es, kvEntryFromPB(e))
		}
		if err := fn(es, resp.GetIndex()); err != nil {
			return err
		}
	}
}
