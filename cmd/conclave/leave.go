package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

func newLeaveCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Make the agent leave the cluster gracefully and stop",
		Args:  argNames(),
	}
	f := addClientFlags(cmd, e)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
			node, err := c.Leave(ctx)
			if err != nil {
				return failed("leave", err)
			}
			if p.json {
				return p.JSON(struct {
					Node string `json:"node"`
					Left bool   `json:"left"`
				}{node, true})
			}
			_, err = fmt.Fprintf(p.w, "node %q left the cluster\n", node)
			return err
		})
	}
	return cmd
}
