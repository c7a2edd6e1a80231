package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api"
	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/cluster"
)

func newSnapshotCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save, restore and inspect snapshots of the whole replicated state",
		Long: "A snapshot holds every key, lock, name, session holding, ACL policy and token and\n" +
			"admission: the whole replicated state. save and restore go to the leader (the\n" +
			"agent asked names it, and the command follows). See docs/operations.md.",
	}
	f := addClientFlags(cmd, e)
	cmd.AddCommand(&cobra.Command{
		Use:   "save FILE",
		Short: "Write a snapshot of the cluster's state to FILE (taken by the leader)",
		Args:  argNames("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			var info client.SnapshotInfo
			err := onLeader(cmd, f, func(ctx context.Context, c *client.Client) error {
				// Written beside FILE and renamed once whole: FILE is never
				// half an archive.
				tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".part-*")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				defer tmp.Close()
				if info, err = c.Operator().SnapshotSave(ctx, tmp); err != nil {
					return failed("snapshot save", err)
				}
				if err := tmp.Sync(); err != nil {
					return err
				}
				if err := tmp.Close(); err != nil {
					return err
				}
				return os.Rename(tmp.Name(), path)
			})
			if err != nil {
				return err
			}
			return printSnapshotInfo(cmd, f, "saved "+path, info)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the cluster's whole state with the snapshot in FILE",
		Long: "restore replaces every key, lock, name, ACL and admission of the cluster with the\n" +
			"snapshot's, on every node; the cluster keeps its own servers. The archive is\n" +
			"checked whole first: a damaged or truncated file changes nothing.",
		Args: argNames("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := verifyFile(args[0]); err != nil {
				return err
			}
			var info client.SnapshotInfo
			err := onLeader(cmd, f, func(ctx context.Context, c *client.Client) error {
				file, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer file.Close()
				if info, err = c.Operator().SnapshotRestore(ctx, file); err != nil {
					return failed("snapshot restore", err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			return printSnapshotInfo(cmd, f, "restored "+args[0], info)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "inspect FILE",
		Short: "Check a snapshot file and print what it holds (no agent needed)",
		Args:  argNames("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ri, err := verifyFile(args[0])
			if err != nil {
				return err
			}
			return printSnapshotInfo(cmd, f, "valid "+args[0]+" (sha256 "+ri.SHA256+")", client.SnapshotInfo{
				Index: ri.Index, Term: ri.Term, Size: ri.Size, ClusterID: ri.ClusterID, Node: ri.Node, Created: ri.Created})
		},
	})
	return cmd
}

// verifyFile checks a snapshot archive on disk.
func verifyFile(path string) (cluster.SnapshotInfo, error) {
	file, err := os.Open(path)
	if err != nil {
		return cluster.SnapshotInfo{}, err
	}
	defer file.Close()
	info, err := cluster.VerifyArchive(file)
	if err != nil {
		return cluster.SnapshotInfo{}, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "raftcore: "))
	}
	return info, nil
}

func printSnapshotInfo(cmd *cobra.Command, f *clientFlags, what string, info client.SnapshotInfo) error {
	p, err := newPrinter(cmd.OutOrStdout(), f.output)
	if err != nil {
		return err
	}
	if p.json {
		return p.JSON(struct {
			Index     uint64 `json:"index"`
			Term      uint64 `json:"term"`
			Size      int64  `json:"size"`
			ClusterID string `json:"cluster_id"`
			Node      string `json:"node"`
			Created   string `json:"created"`
		}{info.Index, info.Term, info.Size, info.ClusterID, info.Node, info.Created.UTC().Format("2006-01-02T15:04:05Z")})
	}
	_, err = fmt.Fprintf(p.w, "%s: index %d, term %d, %d bytes of state, cluster %s, taken by %s at %s\n",
		what, info.Index, info.Term, info.Size, info.ClusterID, info.Node, info.Created.UTC().Format("2006-01-02 15:04:05Z"))
	return err
}

// onLeader runs fn against the agent of --addr and, when that agent is not
// the leader, once more against the leader's API address, which it reads
// from the agent's membership (a wildcard host replaced by the leader's
// gossip host).
func onLeader(cmd *cobra.Command, f *clientFlags, fn func(ctx context.Context, c *client.Client) error) error {
	err := f.call(cmd, func(ctx context.Context, c *client.Client, _ *printer) error { return fn(ctx, c) })
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "not the leader") {
		return err
	}
	var addr string
	if lerr := f.call(cmd, func(ctx context.Context, c *client.Client, _ *printer) error {
		st, err := c.RaftStatus(ctx)
		if err != nil {
			return err
		}
		ms, err := c.Members(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Name == st.LeaderID && m.APIAddr != "" {
				addr = api.ReachableAddr(m.APIAddr, m.Addr)
			}
		}
		return nil
	}); lerr != nil || addr == "" {
		return err
	}
	lf := *f
	lf.addr = addr
	return lf.call(cmd, func(ctx context.Context, c *client.Client, _ *printer) error { return fn(ctx, c) })
}
