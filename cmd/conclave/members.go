package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

func newMembersCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the nodes the agent knows of",
		Args:  argNames(),
	}
	f := addClientFlags(cmd, e)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
			ms, err := c.Members(ctx)
			if err != nil {
				return failed("members", err)
			}
			return printMembers(p, ms)
		})
	}
	return cmd
}

// memberJSON is the stable JSON shape of one member.
type memberJSON struct {
	Name          string `json:"name"`
	Addr          string `json:"addr"`
	State         string `json:"state"`
	FailureDomain string `json:"failure_domain"`
	Priority      int64  `json:"priority"`
	Eligible      bool   `json:"eligible"`
	RoleHint      string `json:"role_hint"`
	RaftRole      string `json:"raft_role"`
	InternodeAddr string `json:"internode_addr"`
	APIAddr       string `json:"api_addr"`
	HTTPAddr      string `json:"http_addr"`
	Leader        bool   `json:"leader"`
	ClusterID     string `json:"cluster_id"`
}

func printMembers(p *printer, ms []client.Member) error {
	// Sorted by name so repeated runs diff cleanly.
	ms = append([]client.Member(nil), ms...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	if p.json {
		out := make([]memberJSON, 0, len(ms))
		for _, m := range ms {
			out = append(out, memberJSON{
				Name: m.Name, Addr: m.Addr, State: m.State, FailureDomain: m.FailureDomain,
				Priority: m.Priority, Eligible: m.Eligible, RoleHint: m.RoleHint, RaftRole: m.RaftRole,
				InternodeAddr: m.InternodeAddr, APIAddr: m.APIAddr, HTTPAddr: m.HTTPAddr,
				Leader: m.Leader, ClusterID: m.ClusterID,
			})
		}
		return p.JSON(out)
	}
	tw := p.table()
	fmt.Fprintln(tw, "NAME\tADDR\tSTATE\tRAFT_ROLE\tLEADER\tFAILURE_DOMAIN\tPRIORITY\tELIGIBLE\tAPI_ADDR")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			m.Name, orDash(m.Addr), orDash(m.State), orDash(m.RaftRole), yesNo(m.Leader),
			orDash(m.FailureDomain), m.Priority, yesNo(m.Eligible), orDash(m.APIAddr))
	}
	return tw.Flush()
}
