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
		Short: "Operate the cluster: admit servers to the Raft core",
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
	return cmd
}
