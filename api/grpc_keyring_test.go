package api_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/internal/testcluster"
)

func gossipKey(b byte, n int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n))
}

// TestKeyringOverGRPC rotates the gossip key of a real three-node cluster
// through the SDK, and checks that bad input is refused with the gRPC code
// of DESIGN §13 and the field named, changing nothing.
func TestKeyringOverGRPC(t *testing.T) {
	oldKey, newKey := gossipKey(1, 32), gossipKey(2, 24)
	tc := testcluster.New(t, 3, testcluster.Options{GossipKey: oldKey})
	tc.WaitLeader(20 * time.Second)
	kr := serve(t, tc.Nodes()[0]).Keyring()
	testcluster.WaitFor(t, 10*time.Second, "every node in the view", func() bool {
		r, err := kr.List(tctx(t))
		return err == nil && r.Total == 3 && r.Failed == 0
	})

	refused := map[string]struct {
		call func() error
		code codes.Code
		text string
	}{
		"bad base64": {func() error { _, err := kr.Install(tctx(t), "***"); return err },
			codes.InvalidArgument, "key: not valid base64"},
		"wrong length": {func() error { _, err := kr.Install(tctx(t), gossipKey(3, 20)); return err },
			codes.InvalidArgument, "key: 20 bytes after base64 decoding, want 16, 24 or 32"},
		"empty": {func() error { _, err := kr.Use(tctx(t), ""); return err },
			codes.InvalidArgument, "key: must not be empty"},
		"remove primary": {func() error { _, err := kr.Remove(tctx(t), oldKey); return err },
			codes.FailedPrecondition, "key: it is the primary key of node n1"},
		"use not installed": {func() error { _, err := kr.Use(tctx(t), newKey); return err },
			codes.FailedPrecondition, "key: not installed on node n1"},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.text) {
				t.Fatalf("err = %v, want %v with %q", err, tc.code, tc.text)
			}
		})
	}
	r, err := kr.List(tctx(t))
	if err != nil || len(r.Keys) != 1 || r.Keys[0].Key != oldKey || r.Keys[0].Nodes != 3 {
		t.Fatalf("refused calls changed a keyring: %+v %v", r, err)
	}

	for _, step := range []struct {
		name string
		do   func() error
	}{
		{"install", func() error { r, err = kr.Install(tctx(t), newKey); return err }},
		{"use", func() error { r, err = kr.Use(tctx(t), newKey); return err }},
		{"remove", func() error { r, err = kr.Remove(tctx(t), oldKey); return err }},
	} {
		if err := step.do(); err != nil || r.Failed != 0 || r.Total != 3 {
			t.Fatalf("%s: %+v %v", step.name, r, err)
		}
	}
	r, err = kr.List(tctx(t))
	if err != nil || len(r.Keys) != 1 || r.Keys[0].Key != newKey || r.Keys[0].Nodes != 3 || r.Keys[0].PrimaryOn != 3 {
		t.Fatalf("after rotation: %+v %v", r, err)
	}
	for _, n := range r.Nodes {
		if n.Error != "" || n.Primary != newKey {
			t.Fatalf("node %s after rotation: %+v", n.Node, n)
		}
	}
}

func TestKeyringWithoutEncryptionFailsPrecondition(t *testing.T) {
	tc := testcluster.New(t, 1, testcluster.Options{BootstrapExpect: 1})
	tc.WaitLeader(10 * time.Second)
	_, err := serve(t, tc.Nodes()[0]).Keyring().List(tctx(t))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "encryption is off") {
		t.Fatalf("err = %v, want FailedPrecondition saying encryption is off", err)
	}
}
