package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/cluster"
	"github.com/conclave-dev/conclave/config"
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
	cmd.AddCommand(newRecoverCmd())
	return cmd
}

// newRecoverCmd is `conclave operator recover`: it works on a stopped
// agent's data dir, not through an agent.
func newRecoverCmd() *cobra.Command {
	var configPath, dataDir, name string
	var force bool
	c := &cobra.Command{
		Use:   "recover --config FILE | --data-dir DIR [--name NODE]",
		Short: "Make a stopped survivor the one voter of its cluster after a majority of voters is lost for good",
		Long: "recover rewrites the Raft state of a STOPPED agent so that it is the only voter,\n" +
			"with every entry its log holds (hashicorp/raft's RecoverCluster, Consul's\n" +
			"peers.json). Use it only when a majority of the voters is gone for good (disks\n" +
			"lost): it refuses while enough of the other voters answer on their Raft addresses\n" +
			"that restarting this node would restore quorum (--force overrides). Then start\n" +
			"the agent: it leads alone, and the reconciler grows the core back as servers\n" +
			"join. Never start the lost voters again with their old data: wipe them first.\n" +
			"See docs/operations.md.",
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cfg config.Config
			switch {
			case configPath != "" && dataDir != "":
				return errors.New("operator recover: give --config or --data-dir, not both")
			case configPath != "":
				var err error
				if cfg, err = config.Load(configPath); err != nil {
					return err
				}
			case dataDir != "":
				cfg = config.Default()
				cfg.Cluster.DataDir = dataDir
				if name != "" {
					cfg.Cluster.Name = name
				}
			default:
				return errors.New("operator recover: --config FILE or --data-dir DIR is required (the stopped agent's)")
			}
			rep, err := cluster.Recover(cfg, cluster.RecoverOptions{Force: force})
			out := cmd.OutOrStdout()
			for _, s := range rep.Previous {
				state := "no answer"
				if s.ID == cfg.Cluster.Name {
					state = "this node"
				} else if slices.Contains(rep.Answering, s.ID) {
					state = "ANSWERS"
				}
				fmt.Fprintf(out, "previous %-8s %-20s %s (%s)\n", s.Suffrage, s.ID, s.Address, state)
			}
			if err != nil {
				return fmt.Errorf("operator recover: %w", err)
			}
			_, err = fmt.Fprintf(out, "recovered: %s is the one voter, with every entry up to index %d; start its agent now\n",
				cfg.Cluster.Name, rep.LastIndex)
			return err
		},
	}
	c.Flags().StringVar(&configPath, "config", "", "the stopped agent's config file (data dir, name, log store)")
	c.Flags().StringVar(&dataDir, "data-dir", "", "the stopped agent's data dir (with --name if it is not this host's name)")
	c.Flags().StringVar(&name, "name", "", "the node's cluster.name (default: this host's name)")
	c.Flags().BoolVar(&force, "force", false, "recover even if other voters answer on their Raft addresses")
	return c
}
