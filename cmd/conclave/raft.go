package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

func newRaftCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "raft",
		Short: "Inspect the Raft core",
	}
	f := addClientFlags(cmd, e)
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the agent's view of the Raft core",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				st, err := c.RaftStatus(ctx)
				if err != nil {
					return failed("raft status", err)
				}
				return printRaftStatus(p, st)
			})
		},
	})
	return cmd
}

// raftStatusJSON is the stable JSON shape of raft status.
type raftStatusJSON struct {
	Node          string           `json:"node"`
	State         string           `json:"state"`
	Term          uint64           `json:"term"`
	LeaderID      string           `json:"leader_id"`
	LeaderAddr    string           `json:"leader_addr"`
	ClusterID     string           `json:"cluster_id"`
	CommitIndex   uint64           `json:"commit_index"`
	AppliedIndex  uint64           `json:"applied_index"`
	LastIndex     uint64           `json:"last_index"`
	LastContactMS int64            `json:"last_contact_ms"`
	Servers       []raftServerJSON `json:"servers"`
	Admitted      []string         `json:"admitted"`
}

type raftServerJSON struct {
	ID            string `json:"id"`
	Role          string `json:"role"` // voter | standby | client
	Address       string `json:"address"`
	Suffrage      string `json:"suffrage"`
	Leader        bool   `json:"leader"`
	FailureDomain string `json:"failure_domain"`
	Priority      int    `json:"priority"`
}

func printRaftStatus(p *printer, st client.RaftStatus) error {
	if p.json {
		out := raftStatusJSON{
			Node: st.Node, State: st.State, Term: st.Term, LeaderID: st.LeaderID, LeaderAddr: st.LeaderAddr,
			ClusterID: st.ClusterID, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
			LastIndex: st.LastIndex, LastContactMS: st.LastContact.Milliseconds(),
			Servers:  make([]raftServerJSON, 0, len(st.Servers)),
			Admitted: append([]string{}, st.Admitted...),
		}
		for _, s := range st.Servers {
			out.Servers = append(out.Servers, raftServerJSON{ID: s.ID, Role: s.Role, Address: s.Address,
				Suffrage: s.Suffrage, Leader: s.Leader, FailureDomain: s.FailureDomain, Priority: s.Priority})
		}
		return p.JSON(out)
	}
	tw := p.table()
	leader := orDash(st.LeaderID)
	if st.LeaderAddr != "" {
		leader += " (" + st.LeaderAddr + ")"
	}
	fmt.Fprintf(tw, "Node:\t%s\n", orDash(st.Node))
	fmt.Fprintf(tw, "State:\t%s\n", orDash(st.State))
	fmt.Fprintf(tw, "Term:\t%d\n", st.Term)
	fmt.Fprintf(tw, "Leader:\t%s\n", leader)
	fmt.Fprintf(tw, "Cluster ID:\t%s\n", orDash(st.ClusterID))
	fmt.Fprintf(tw, "Commit index:\t%d\n", st.CommitIndex)
	fmt.Fprintf(tw, "Applied index:\t%d\n", st.AppliedIndex)
	fmt.Fprintf(tw, "Last index:\t%d\n", st.LastIndex)
	fmt.Fprintf(tw, "Last contact:\t%s\n", st.LastContact.Round(time.Millisecond))
	if len(st.Admitted) > 0 {
		fmt.Fprintf(tw, "Admitted:\t%s\n", strings.Join(st.Admitted, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Servers) == 0 {
		return nil
	}
	fmt.Fprintln(p.w)
	tw = p.table()
	fmt.Fprintln(tw, "ID\tROLE\tLEADER\tFAILURE_DOMAIN\tPRIORITY\tADDRESS")
	for _, s := range st.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, orDash(s.Role), yesNo(s.Leader),
			orDash(s.FailureDomain), s.Priority, orDash(s.Address))
	}
	return tw.Flush()
}
