package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

// newOperatorCmd groups the operator verbs that change the cluster's
// shape (for now: admit).
func newOperatorCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Operate the cluster: admit servers, list and remove Raft peers",
	}
	f := addClientFlags(cmd, e)
	cmd.AddCommand(&cobra.Command{
		Use:   "admit NODE",
		Short: "Admit a server to the Raft core (raft.admission: manual)",
		Long: "Admit records NODE in the cluster's replicated set of admitted servers. Under\n" +
			"raft.admission: manual a new server stays a client until it is admitted; the\n" +
			"leader then adds it, as a standby first, once it has been alive for the\n" +
			"stabilisation window. Any agent of the cluster may take the call.",
		Args: argNames("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			node := args[0]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.Admit(ctx, node); err != nil {
					return failed("operator admit", err)
				}
				if p.json {
					return p.JSON(struct {
						Node     string `json:"node"`
						Admitted bool   `json:"admitted"`
					}{node, true})
				}
				_, err := fmt.Fprintf(p.w, "node %q admitted\n", node)
				return err
			})
		},
	})
	raft := &cobra.Command{Use: "raft", Short: "List and remove the Raft core's servers"}
	raft.AddCommand(&cobra.Command{
		Use:   "list-peers",
		Short: "List the servers of the Raft configuration (voters and standbys)",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				st, err := c.RaftStatus(ctx)
				if err != nil {
					return failed("operator raft list-peers", err)
				}
				if p.json {
					out := make([]raftServerJSON, 0, len(st.Servers))
					for _, s := range st.Servers {
						out = append(out, raftServerJSON{ID: s.ID, Role: s.Role, Address: s.Address,
							Suffrage: s.Suffrage, Leader: s.Leader, FailureDomain: s.FailureDomain, Priority: s.Priority})
					}
					return p.JSON(out)
				}
				tw := p.table()
				fmt.Fprintln(tw, "ID\tROLE\tLEADER\tFAILURE_DOMAIN\tADDRESS")
				for _, s := range st.Servers {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, orDash(s.Role), yesNo(s.Leader),
						orDash(s.FailureDomain), orDash(s.Address))
				}
				return tw.Flush()
			})
		},
	})
	raft.AddCommand(&cobra.Command{
		Use:   "remove-peer NODE",
		Short: "Remove a server that is gone for good from the Raft configuration",
		Long: "remove-peer removes NODE from the Raft configuration through the leader. A node\n" +
			"that is alive in gossip is refused (the reconciler would add it back): stop it\n" +
			"first, or run `conclave leave` on it. The reconciler also removes a dead server\n" +
			"by itself once standbys have replaced it; this is the shortcut.",
		Args: argNames("NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.Operator().RemovePeer(ctx, args[0]); err != nil {
					return failed("operator raft remove-peer", err)
				}
				if p.json {
					return p.JSON(struct {
						Node    string `json:"node"`
						Removed bool   `json:"removed"`
					}{args[0], true})
				}
				_, err := fmt.Fprintf(p.w, "node %q removed from the Raft configuration\n", args[0])
				return err
			})
		},
	})
	cmd.AddCommand(raft)
	return cmd
}
