package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

// generatedKeyBytes is the size of `keyring generate`'s keys: AES-256.
const generatedKeyBytes = 32

func newKeyringCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "Manage the gossip encryption keyring of every live node",
		Long: `Manage the gossip encryption keyring of every node alive in the agent's
gossip view. Rotate a key without downtime in three steps, each reaching every
node before the next:

  conclave keyring install NEW   # every node can now decrypt NEW
  conclave keyring use NEW       # every node encrypts with NEW
  conclave keyring remove OLD    # OLD is no longer accepted

Each node keeps its keyring in <data_dir>/_sys/gossip.keyring, which wins over
the configured secret at the next start. Encryption cannot be switched on at
runtime: on a cluster started without cluster.membership.secret these commands
fail. KEY may be "-" to read it from standard input (keeps it out of the shell
history). A command exits 1 if any node failed; run it again to complete it.`,
	}
	f := addClientFlags(cmd, e)
	op := func(use, short string, call func(*client.Keyring, context.Context, string) (client.KeyringResult, error)) *cobra.Command {
		c := &cobra.Command{Use: use + " KEY", Short: short, Args: argNames("KEY")}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			return f.call(cmd, func(ctx context.Context, cl *client.Client, p *printer) error {
				r, err := call(cl.Keyring(), ctx, key)
				if err != nil {
					return failed("keyring "+use, err)
				}
				return printKeyringResult(p, use, r)
			})
		}
		return c
	}
	list := &cobra.Command{Use: "list", Short: "List the keys installed on every live node", Args: argNames()}
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return f.call(cmd, func(ctx context.Context, cl *client.Client, p *printer) error {
			r, err := cl.Keyring().List(ctx)
			if err != nil {
				return failed("keyring list", err)
			}
			return printKeyringList(p, r)
		})
	}
	cmd.AddCommand(
		list,
		op("install", "Install a key on every live node (decrypts, does not encrypt yet)", (*client.Keyring).Install),
		op("use", "Make an installed key the primary (encrypting) key of every live node", (*client.Keyring).Use),
		op("remove", "Remove a key that is no node's primary from every live node", (*client.Keyring).Remove),
		newKeyringGenerateCmd(),
	)
	return cmd
}

// newKeyringGenerateCmd prints a new random key; it talks to no agent.
func newKeyringGenerateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Print a new random gossip key (32 bytes, base64)",
		Long: `Print a new random gossip key: 32 bytes from the operating system's
cryptographic random source, standard base64, for cluster.membership.secret
(or secret_file) and for "conclave keyring install". It contacts no agent.`,
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := make([]byte, generatedKeyBytes)
			if _, err := rand.Read(k); err != nil {
				return fmt.Errorf("keyring generate: %w", err)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), base64.StdEncoding.EncodeToString(k))
			return err
		},
	}
}

// keyArg returns the KEY argument, read from stdin when it is "-". The
// agent checks the key (and names the field if it is bad).
func keyArg(stdin io.Reader, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read KEY from stdin: %w", err)
	}
	key := strings.TrimSpace(line)
	if key == "" {
		return "", fmt.Errorf("read KEY from stdin: empty")
	}
	return key, nil
}

// keyringNodeJSON and keyringJSON are the stable JSON shapes.
type keyringNodeJSON struct {
	Node    string   `json:"node"`
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Primary string   `json:"primary,omitempty"`
	Keys    []string `json:"keys,omitempty"`
}

type keyringKeyJSON struct {
	Key       string `json:"key"`
	Nodes     int    `json:"nodes"`
	PrimaryOn int    `json:"primary_on"`
}

type keyringJSON struct {
	Op     string            `json:"op"`
	Total  int               `json:"total"`
	Failed int               `json:"failed"`
	Nodes  []keyringNodeJSON `json:"nodes"`
	Keys   []keyringKeyJSON  `json:"keys"`
}

func keyringToJSON(op string, r client.KeyringResult) keyringJSON {
	out := keyringJSON{Op: op, Total: r.Total, Failed: r.Failed, Nodes: []keyringNodeJSON{}, Keys: []keyringKeyJSON{}}
	for _, n := range r.Nodes {
		out.Nodes = append(out.Nodes, keyringNodeJSON{Node: n.Node, OK: n.Error == "", Error: n.Error, Primary: n.Primary, Keys: n.Keys})
	}
	for _, k := range r.Keys {
		out.Keys = append(out.Keys, keyringKeyJSON{Key: k.Key, Nodes: k.Nodes, PrimaryOn: k.PrimaryOn})
	}
	return out
}

// printKeyringResult prints an install/use/remove outcome per node and
// fails the command if any node failed.
func printKeyringResult(p *printer, op string, r client.KeyringResult) error {
	if p.json {
		if err := p.JSON(keyringToJSON(op, r)); err != nil {
			return err
		}
		return keyringFailed(op, r)
	}
	tw := p.table()
	fmt.Fprintln(tw, "NODE\tRESULT")
	for _, n := range r.Nodes {
		res := "ok"
		if n.Error != "" {
			res = "failed: " + oneLine(n.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\n", n.Node, res)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return keyringFailed(op, r)
}

// printKeyringList prints each key with how many nodes have it and use it
// as primary, then each node's primary; it fails if any node failed.
func printKeyringList(p *printer, r client.KeyringResult) error {
	if p.json {
		if err := p.JSON(keyringToJSON("list", r)); err != nil {
			return err
		}
		return keyringFailed("list", r)
	}
	answered := r.Total - r.Failed
	tw := p.table()
	fmt.Fprintln(tw, "KEY\tINSTALLED\tPRIMARY")
	for _, k := range r.Keys {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d/%d\n", k.Key, k.Nodes, answered, k.PrimaryOn, answered)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "NODE\tPRIMARY\tKEYS\tERROR")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n.Node, orDash(n.Primary), len(n.Keys), orDash(oneLine(n.Error)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return keyringFailed("list", r)
}

func keyringFailed(op string, r client.KeyringResult) error {
	if r.Failed == 0 {
		return nil
	}
	return fmt.Errorf("keyring %s: %d of %d nodes failed (run it again to complete it)", op, r.Failed, r.Total)
}
