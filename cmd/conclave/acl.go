package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api/client"
)

func newACLCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Manage ACL tokens and policies (docs/acl.md)",
		Long: `Manage access control: policies (named lists of rules) and the tokens that
carry them. With acl.enabled on the servers every call presents a token
(--token, --token-file, CONCLAVE_TOKEN or CONCLAVE_TOKEN_FILE); these commands
need one with acl read (list, read) or acl write (create, update, delete), but
bootstrap, which makes the first management token, needs none and works once.

  conclave acl bootstrap
  conclave acl policy create jobs --rule "lock jobs/ write" --rule "name svc/billing write"
  conclave acl token create --policy jobs --description "nightly runner"

A rule is "RESOURCE PREFIX ACCESS": RESOURCE one of kv, lock, name, group,
service, operator, acl; PREFIX a name prefix, * for every name; ACCESS read,
write or deny. The longest matching prefix decides; deny wins a tie.`,
	}
	f := addClientFlags(cmd, e)
	policy := &cobra.Command{Use: "policy", Short: "Create, read, list, update and delete policies"}
	policy.AddCommand(newACLPolicyCreateCmd(f, false), newACLPolicyCreateCmd(f, true),
		newACLPolicyListCmd(f), newACLPolicyReadCmd(f), newACLPolicyDeleteCmd(f))
	token := &cobra.Command{Use: "token", Short: "Create, read, list and delete tokens"}
	token.AddCommand(newACLTokenCreateCmd(f), newACLTokenListCmd(f), newACLTokenReadCmd(f), newACLTokenDeleteCmd(f))
	cmd.AddCommand(newACLBootstrapCmd(f), policy, token, newACLWhoamiCmd(f))
	return cmd
}

func newACLBootstrapCmd(f *clientFlags) *cobra.Command {
	var reset uint64
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Create the first management token (works once)",
		Long: `Create the cluster's first management token: policy global-management, write
on everything. It needs no token and works once; a second bootstrap fails
naming the index of the one in force. To replace a lost management token, see
"Recovering a lost management token" in docs/acl.md (--reset-index).`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				t, err := c.ACL().Bootstrap(ctx, reset)
				if err != nil {
					err = failed("acl bootstrap", err)
					if reset == 0 && status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "bootstrapped") {
						// The usual reason to ask again is a lost token.
						err = fmt.Errorf("%w (lost the management token? see \"Recovering a lost management token\" in docs/acl.md)", err)
					}
					return err
				}
				if err := printCreatedToken(p, t); err != nil || p.json {
					return err
				}
				_, err = fmt.Fprintln(p.w, "\nKeep the SecretID safe: it is the management token, it grants everything, and it cannot be shown again.")
				return err
			})
		},
	}
	cmd.Flags().Uint64Var(&reset, "reset-index", 0, "replace the bootstrap made at this index (recovery of a lost management token; docs/acl.md)")
	return cmd
}

// parseRules splits each --rule "RESOURCE PREFIX ACCESS" into its words;
// the agent checks them and names the field it refuses.
func parseRules(rules []string) ([]client.ACLRule, error) {
	out := make([]client.ACLRule, 0, len(rules))
	for _, r := range rules {
		w := strings.Fields(r)
		if len(w) != 3 {
			return nil, fmt.Errorf("invalid --rule %s: want \"RESOURCE PREFIX ACCESS\", three words (e.g. \"lock jobs/ write\"; * for every name)", truncate(r))
		}
		out = append(out, client.ACLRule{Resource: w[0], Prefix: w[1], Access: w[2]})
	}
	return out, nil
}

// newACLPolicyCreateCmd is `acl policy create`, or with update `acl policy
// update`: both take the whole rule list.
func newACLPolicyCreateCmd(f *clientFlags, update bool) *cobra.Command {
	var (
		rules []string
		desc  string
	)
	verb, short := "create", "Create a policy"
	if update {
		verb, short = "update", "Replace a policy's rules (and description, with --description)"
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME --rule \"RESOURCE PREFIX ACCESS\" [--rule ...]",
		Short: short,
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			op := fmt.Sprintf("acl policy %s %q", verb, name)
			if len(rules) == 0 {
				return fmt.Errorf("%s: --rule is required (e.g. --rule \"lock jobs/ write\")", op)
			}
			rs, err := parseRules(rules)
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			keepDesc := update && !cmd.Flags().Changed("description")
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				pol := client.ACLPolicy{Name: name, Description: desc, Rules: rs}
				var err error
				if keepDesc {
					// Without --description an update keeps the one in
					// force: the call replaces both.
					old, err := c.ACL().PolicyRead(ctx, name)
					if err != nil {
						return failed(op, err)
					}
					pol.Description = old.Description
				}
				if update {
					pol, err = c.ACL().PolicyUpdate(ctx, pol)
				} else {
					pol, err = c.ACL().PolicyCreate(ctx, pol)
				}
				if err != nil {
					return failed(op, err)
				}
				return printPolicy(p, pol)
			})
		},
	}
	cmd.Flags().StringArrayVar(&rules, "rule", nil, `a rule "RESOURCE PREFIX ACCESS" (repeat for more), e.g. "lock jobs/ write", "kv * read"`)
	usage := "what the policy is for"
	if update {
		usage += " (kept when not given)"
	}
	cmd.Flags().StringVar(&desc, "description", "", usage)
	return cmd
}

func newACLPolicyListCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the policies",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				ps, err := c.ACL().PolicyList(ctx)
				if err != nil {
					return failed("acl policy list", err)
				}
				sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
				if p.json {
					out := make([]policyJSON, 0, len(ps))
					for _, pol := range ps {
						out = append(out, toPolicyJSON(pol))
					}
					return p.JSON(out)
				}
				tw := p.table()
				fmt.Fprintln(tw, "NAME\tRULES\tDESCRIPTION")
				for _, pol := range ps {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", pol.Name, orDash(ruleList(pol.Rules)), orDash(oneLine(pol.Description)))
				}
				return tw.Flush()
			})
		},
	}
}

func newACLPolicyReadCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "read NAME",
		Short: "Show a policy and its rules",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				pol, err := c.ACL().PolicyRead(ctx, name)
				if err != nil {
					return failed(fmt.Sprintf("acl policy read %q", name), err)
				}
				return printPolicy(p, pol)
			})
		},
	}
}

func newACLPolicyDeleteCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a policy (and take it off every token)",
		Args:  argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.ACL().PolicyDelete(ctx, name); err != nil {
					return failed(fmt.Sprintf("acl policy delete %q", name), err)
				}
				return printDeleted(p, "policy", name)
			})
		},
	}
}

func newACLTokenCreateCmd(f *clientFlags) *cobra.Command {
	var (
		policies []string
		desc     string
		ttl      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create --policy P [--policy ...]",
		Short: "Create a token with policies; prints its secret, shown this once",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(policies) == 0 {
				return fmt.Errorf("acl token create: --policy is required (a token without policies may do nothing the default policy does not allow)")
			}
			if ttl < 0 {
				return fmt.Errorf("acl token create: invalid --ttl %s: must be > 0, or 0 for a token that never expires", ttl)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				t, err := c.ACL().TokenCreate(ctx, desc, policies, ttl)
				if err != nil {
					return failed("acl token create", err)
				}
				return printCreatedToken(p, t)
			})
		},
	}
	cmd.Flags().StringArrayVar(&policies, "policy", nil, "a policy the token carries (repeat for more)")
	cmd.Flags().StringVar(&desc, "description", "", "what the token is for")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "the token stops working this long after creation (0: never)")
	return cmd
}

func newACLTokenListCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the tokens (accessor IDs, never secrets)",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				ts, err := c.ACL().TokenList(ctx)
				if err != nil {
					return failed("acl token list", err)
				}
				sort.Slice(ts, func(i, j int) bool { return ts[i].CreateIndex < ts[j].CreateIndex })
				if p.json {
					out := make([]tokenJSON, 0, len(ts))
					for _, t := range ts {
						out = append(out, toTokenJSON(t))
					}
					return p.JSON(out)
				}
				tw := p.table()
				fmt.Fprintln(tw, "ACCESSOR_ID\tPOLICIES\tEXPIRES\tDESCRIPTION")
				for _, t := range ts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.AccessorID, orDash(strings.Join(t.Policies, ",")),
						expiry(t.ExpiresAt), orDash(oneLine(t.Description)))
				}
				return tw.Flush()
			})
		},
	}
}

func newACLTokenReadCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "read ACCESSOR",
		Short: "Show a token (by accessor ID)",
		Args:  argNames("ACCESSOR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			acc := args[0]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				t, err := c.ACL().TokenRead(ctx, acc)
				if err != nil {
					return failed(fmt.Sprintf("acl token read %q", acc), err)
				}
				return printToken(p, t)
			})
		},
	}
}

func newACLTokenDeleteCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ACCESSOR",
		Short: "Delete a token (by accessor ID); the sessions opened with it end",
		Args:  argNames("ACCESSOR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			acc := args[0]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.ACL().TokenDelete(ctx, acc); err != nil {
					return failed(fmt.Sprintf("acl token delete %q", acc), err)
				}
				return printDeleted(p, "token", acc)
			})
		},
	}
}

func newACLWhoamiCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the token this command presents",
		Args:  argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				t, err := c.ACL().Whoami(ctx)
				if err != nil {
					return failed("acl whoami", err)
				}
				return printToken(p, t)
			})
		},
	}
}

// policyJSON, ruleJSON and tokenJSON are the stable JSON shapes.
type policyJSON struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Rules       []ruleJSON `json:"rules"`
	CreateIndex uint64     `json:"create_index"`
	ModifyIndex uint64     `json:"modify_index"`
}

type ruleJSON struct {
	Resource string `json:"resource"`
	Prefix   string `json:"prefix"`
	Access   string `json:"access"`
}

type tokenJSON struct {
	AccessorID  string   `json:"accessor_id"`
	SecretID    string   `json:"secret_id,omitempty"`
	Description string   `json:"description"`
	Policies    []string `json:"policies"`
	ExpiresAt   *string  `json:"expires_at"`
	CreateIndex uint64   `json:"create_index"`
}

func toPolicyJSON(p client.ACLPolicy) policyJSON {
	out := policyJSON{Name: p.Name, Description: p.Description, Rules: make([]ruleJSON, 0, len(p.Rules)),
		CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
	for _, r := range p.Rules {
		out.Rules = append(out.Rules, ruleJSON{Resource: r.Resource, Prefix: r.Prefix, Access: r.Access})
	}
	return out
}

func toTokenJSON(t client.ACLToken) tokenJSON {
	return tokenJSON{AccessorID: t.AccessorID, Description: t.Description, Policies: append([]string{}, t.Policies...),
		ExpiresAt: jsonTime(t.ExpiresAt), CreateIndex: t.CreateIndex}
}

// ruleList writes rules as the CLI takes them, "; " between.
func ruleList(rs []client.ACLRule) string {
	s := make([]string, 0, len(rs))
	for _, r := range rs {
		s = append(s, r.Resource+" "+r.Prefix+" "+r.Access)
	}
	return strings.Join(s, "; ")
}

// expiry renders a token's expiry in a table.
func expiry(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return tableTime(t)
}

func printPolicy(p *printer, pol client.ACLPolicy) error {
	if p.json {
		return p.JSON(toPolicyJSON(pol))
	}
	tw := p.table()
	fmt.Fprintf(tw, "Name:\t%s\n", pol.Name)
	fmt.Fprintf(tw, "Description:\t%s\n", orDash(oneLine(pol.Description)))
	fmt.Fprintf(tw, "Create index:\t%d\n", pol.CreateIndex)
	fmt.Fprintf(tw, "Modify index:\t%d\n", pol.ModifyIndex)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(p.w)
	tw = p.table()
	fmt.Fprintln(tw, "RESOURCE\tPREFIX\tACCESS")
	for _, r := range pol.Rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Resource, r.Prefix, r.Access)
	}
	return tw.Flush()
}

func printToken(p *printer, t client.ACLToken) error {
	if p.json {
		return p.JSON(toTokenJSON(t))
	}
	tw := p.table()
	fmt.Fprintf(tw, "AccessorID:\t%s\n", t.AccessorID)
	writeTokenFields(tw, t)
	return tw.Flush()
}

// printCreatedToken prints a new token with its secret.
func printCreatedToken(p *printer, t client.ACLCreatedToken) error {
	if p.json {
		j := toTokenJSON(t.ACLToken)
		j.SecretID = t.SecretID
		return p.JSON(j)
	}
	tw := p.table()
	fmt.Fprintf(tw, "AccessorID:\t%s\n", t.AccessorID)
	fmt.Fprintf(tw, "SecretID:\t%s\n", t.SecretID)
	writeTokenFields(tw, t.ACLToken)
	return tw.Flush()
}

func writeTokenFields(tw io.Writer, t client.ACLToken) {
	fmt.Fprintf(tw, "Description:\t%s\n", orDash(oneLine(t.Description)))
	fmt.Fprintf(tw, "Policies:\t%s\n", orDash(strings.Join(t.Policies, ", ")))
	fmt.Fprintf(tw, "Expires:\t%s\n", expiry(t.ExpiresAt))
	fmt.Fprintf(tw, "Create index:\t%d\n", t.CreateIndex)
}

func printDeleted(p *printer, what, name string) error {
	if p.json {
		return p.JSON(struct {
			Deleted string `json:"deleted"`
			Name    string `json:"name"`
		}{what, name})
	}
	_, err := fmt.Fprintf(p.w, "deleted %s %q\n", what, name)
	return err
}
