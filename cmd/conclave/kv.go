package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
)

func newKVCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kv",
		Short: "Read and write the replicated key-value store",
	}
	f := addClientFlags(cmd, e)
	cmd.AddCommand(newKVGetCmd(f), newKVPutCmd(f), newKVDeleteCmd(f), newKVListCmd(f),
		newKVTxnCmd(f), newKVExportCmd(f), newKVImportCmd(f), newKVWatchCmd(f, e))
	return cmd
}

// parseMode maps --mode onto the SDK's read modes.
func parseMode(s string) (client.ReadMode, error) {
	switch s {
	case "default", "":
		return client.ReadDefault, nil
	case "stale":
		return client.ReadStale, nil
	case "consistent":
		return client.ReadConsistent, nil
	default:
		return 0, fmt.Errorf("invalid --mode %q: want default, stale or consistent", s)
	}
}

// parseStore maps --store onto the SDK's store option.
func parseStore(s string) (client.StoreOption, error) {
	switch s {
	case "raft", "":
		return client.RaftStore(), nil
	case "eventual":
		return client.Eventual(), nil
	default:
		return 0, fmt.Errorf("invalid --store %q: want raft or eventual", s)
	}
}

const storeUsage = "keyspace: raft (replicated by Raft, needs a quorum) or eventual (gossiped, works on any node without a quorum)"

const modeUsage = "read mode: default (leader lease), stale (local replica) or consistent (quorum-checked)"

func newKVGetCmd(f *clientFlags) *cobra.Command {
	var (
		mode, store string
		raw         bool
	)
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of a key",
		Long: "Print the value of a key. A text value is printed with a newline after it (unless\n" +
			"it ends with one); a binary value (not UTF-8, or holding control bytes) is printed\n" +
			"Go-quoted, so it cannot garble a terminal. --raw writes the stored bytes exactly,\n" +
			"nothing added: conclave kv get --raw KEY > FILE gives back what kv put KEY - < FILE stored.",
		Args: argNames("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			st, err := parseStore(store)
			if err != nil {
				return err
			}
			if raw && f.output != "table" {
				return fmt.Errorf("kv get %s: --raw writes the bare value; it does not combine with -o %s", truncate(key), f.output)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				e, err := c.KV().Get(ctx, key, m, st)
				if err != nil {
					return failed(fmt.Sprintf("kv get %q", key), err)
				}
				if raw {
					_, err := p.w.Write(e.Value)
					return err
				}
				return printKVGet(p, e)
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	cmd.Flags().StringVar(&store, "store", "raft", storeUsage)
	cmd.Flags().BoolVar(&raw, "raw", false, "write the value's bytes exactly, without a newline or quoting")
	return cmd
}

func newKVPutCmd(f *clientFlags) *cobra.Command {
	var (
		cas   uint64
		store string
	)
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Write a key (VALUE - reads it from stdin)",
		Long: "Write a key. VALUE - reads the value from stdin.\n" +
			"With --cas VERSION the write happens only if the key is at that version;\n" +
			"--cas 0 writes only if the key does not exist.\n" +
			"--store eventual writes the eventual store on the agent asked, with or without a\n" +
			"Raft quorum; the write reaches the other nodes by gossip (no --cas there).",
		Args: argNames("KEY", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, value := args[0], []byte(args[1])
			if args[1] == "-" {
				var err error
				if value, err = io.ReadAll(cmd.InOrStdin()); err != nil {
					return fmt.Errorf("kv put %q: read stdin: %w", key, err)
				}
			}
			conditional := cmd.Flags().Changed("cas")
			st, err := parseStore(store)
			if err != nil {
				return err
			}
			if conditional && st == client.Eventual() {
				return fmt.Errorf("kv put %q: --cas does not combine with --store eventual (it has no compare-and-set)", key)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				var (
					e   client.KVEntry
					err error
				)
				if conditional {
					e, err = c.KV().CompareAndSet(ctx, key, value, cas)
				} else {
					e, err = c.KV().Put(ctx, key, value, st)
				}
				if err != nil {
					return failed(fmt.Sprintf("kv put %q", key), err)
				}
				return printKVWritten(p, e)
			})
		},
	}
	cmd.Flags().Uint64Var(&cas, "cas", 0, "compare-and-set: write only if the key is at this version (0 = only if absent)")
	cmd.Flags().StringVar(&store, "store", "raft", storeUsage)
	return cmd
}

func newKVDeleteCmd(f *clientFlags) *cobra.Command {
	var (
		cas           uint64
		prefix, store string
	)
	keyArgs := argNames("KEY")
	cmd := &cobra.Command{
		Use:   "delete KEY | --prefix PREFIX",
		Short: "Delete a key, or every key with a prefix",
		Long: "Delete a key. With --prefix (and no KEY) delete every key that starts with PREFIX,\n" +
			"in one write, and print how many were deleted. An empty prefix is refused: to\n" +
			"delete everything, delete each top-level prefix.",
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("prefix") {
				if len(args) > 0 {
					return fmt.Errorf("kv delete: %s: --prefix deletes by prefix and takes no KEY", unexpected(args))
				}
				return nil
			}
			return keyArgs(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := parseStore(store)
			if err != nil {
				return err
			}
			if st == client.Eventual() && (cmd.Flags().Changed("prefix") || cmd.Flags().Changed("cas")) {
				return fmt.Errorf("kv delete: --prefix and --cas do not combine with --store eventual")
			}
			if cmd.Flags().Changed("prefix") {
				return kvDeletePrefix(cmd, f, prefix, cmd.Flags().Changed("cas"))
			}
			key := args[0]
			opts := []client.DeleteOption{st}
			if cmd.Flags().Changed("cas") {
				// Checked here too so the operator gets the flag's name.
				if cas == 0 {
					return fmt.Errorf("kv delete %q: invalid --cas 0: a conditional delete needs the key's version (> 0)", key)
				}
				opts = append(opts, client.IfVersion(cas))
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if err := c.KV().Delete(ctx, key, opts...); err != nil {
					return failed(fmt.Sprintf("kv delete %q", key), err)
				}
				if p.json {
					return p.JSON(struct {
						Key     string `json:"key"`
						Deleted bool   `json:"deleted"`
					}{key, true})
				}
				_, err := fmt.Fprintf(p.w, "deleted %q\n", key)
				return err
			})
		},
	}
	cmd.Flags().Uint64Var(&cas, "cas", 0, "delete only if the key is at this version")
	cmd.Flags().StringVar(&prefix, "prefix", "", "delete every key with this (non-empty) prefix instead of one KEY")
	cmd.Flags().StringVar(&store, "store", "raft", storeUsage)
	return cmd
}

// kvDeletePrefix is kv delete --prefix.
func kvDeletePrefix(cmd *cobra.Command, f *clientFlags, prefix string, cas bool) error {
	switch {
	case prefix == "":
		return fmt.Errorf(`kv delete: invalid --prefix "": deleting every key is refused; give a non-empty prefix`)
	case cas:
		return fmt.Errorf("kv delete --prefix %s: --cas is for one KEY; a prefix delete is unconditional", truncate(prefix))
	}
	return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
		n, err := c.KV().DeletePrefix(ctx, prefix)
		if err != nil {
			return failed(fmt.Sprintf("kv delete --prefix %q", prefix), err)
		}
		if p.json {
			return p.JSON(struct {
				Prefix  string `json:"prefix"`
				Deleted int    `json:"deleted"`
			}{prefix, n})
		}
		_, err = fmt.Fprintf(p.w, "deleted %d %s with prefix %q\n", n, plural(n, "key", "keys"), prefix)
		return err
	})
}

// plural is one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func newKVListCmd(f *clientFlags) *cobra.Command {
	var (
		mode, store string
		limit       uint32
	)
	cmd := &cobra.Command{
		Use:   "list [PREFIX]",
		Short: "List the keys with a prefix, in key order",
		Args:  argNames("[PREFIX]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var prefix string
			if len(args) == 1 {
				prefix = args[0]
			}
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			st, err := parseStore(store)
			if err != nil {
				return err
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				es, err := c.KV().List(ctx, prefix, m, client.Limit(limit), st)
				if err != nil {
					return failed(fmt.Sprintf("kv list %q", prefix), err)
				}
				return printKVList(p, es)
			})
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	cmd.Flags().Uint32Var(&limit, "limit", 0, "at most this many keys (0 = all)")
	cmd.Flags().StringVar(&store, "store", "raft", storeUsage)
	return cmd
}

func newKVWatchCmd(f *clientFlags, e env) *cobra.Command {
	return &cobra.Command{
		Use:   "watch [PREFIX]",
		Short: "Print the keys with a prefix now and after every change there, until interrupted",
		Long: "watch prints the keys with PREFIX (every key without one) at once and again\n" +
			"each time one is written or deleted, each listing followed by a line\n" +
			"\"--- index N\" (with -o json, one JSON object per listing). It runs until\n" +
			"SIGINT/SIGTERM (then it exits 0); --timeout does not end it.",
		Args: argNames("[PREFIX]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var prefix string
			if len(args) == 1 {
				prefix = args[0]
			}
			c, p, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			// As name watch: a signal ends the watch, and the command, cleanly.
			sigc := make(chan os.Signal, 1)
			defer e.notifySignals(sigc)()
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go func() {
				select {
				case <-sigc:
					cancel()
				case <-ctx.Done():
				}
			}()
			err = c.KV().Watch(ctx, prefix, 0, func(es []client.KVEntry, index uint64) error {
				if p.json {
					out := struct {
						Index   uint64   `json:"index"`
						Entries []kvJSON `json:"entries"`
					}{Index: index, Entries: make([]kvJSON, 0, len(es))}
					for _, e := range es {
						out.Entries = append(out.Entries, toKVJSON(e))
					}
					return p.JSON(out)
				}
				if err := printKVList(p, es); err != nil {
					return err
				}
				_, err := fmt.Fprintf(p.w, "--- index %d\n", index)
				return err
			})
			if err != nil {
				return failed(fmt.Sprintf("kv watch %q", prefix), err)
			}
			return nil
		},
	}
}

// kvJSON is the stable JSON shape of an entry. value is the value as a
// string when it is valid UTF-8 and null otherwise, in which case
// value_base64 carries the bytes.
type kvJSON struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 []byte  `json:"value_base64,omitempty"` // encoding/json writes []byte as base64
	Version     uint64  `json:"version"`
	CreateIndex uint64  `json:"create_index"`
	// Clock is set for an entry of the eventual store.
	Clock *clockJSON `json:"clock,omitempty"`
}

// clockJSON is an eventual entry's HLC stamp.
type clockJSON struct {
	WallNs  int64  `json:"wall_ns"`
	Logical uint32 `json:"logical"`
	Origin  string `json:"origin"`
}

func toKVJSON(e client.KVEntry) kvJSON {
	out := kvJSON{Key: e.Key, Version: e.Version, CreateIndex: e.CreateIndex}
	if c := e.Clock; c != nil {
		out.Clock = &clockJSON{WallNs: c.WallNs, Logical: c.Logical, Origin: c.Origin}
	}
	if utf8.Valid(e.Value) {
		s := string(e.Value)
		out.Value = &s
	} else {
		out.ValueBase64 = e.Value
	}
	return out
}

// printKVGet prints just the value in table mode, like `consul kv get`, so
// scripts can use $(conclave kv get k): text as is with one newline at the
// end, binary Go-quoted (displayValue's rule, but a multi-line text stays
// text). --raw is for the exact bytes.
func printKVGet(p *printer, e client.KVEntry) error {
	if p.json {
		return p.JSON(toKVJSON(e))
	}
	v := e.Value
	if !isText(v) {
		v = []byte(strconv.Quote(string(v)))
	}
	if len(v) == 0 || v[len(v)-1] != '\n' {
		v = append(v[:len(v):len(v)], '\n')
	}
	_, err := p.w.Write(v)
	return err
}

// isText reports whether v is UTF-8 with no control bytes other than
// newline, tab and carriage return: safe to print on a terminal as is.
func isText(v []byte) bool {
	if !utf8.Valid(v) {
		return false
	}
	for _, r := range string(v) {
		if r != '\n' && r != '\t' && r != '\r' && !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

func printKVWritten(p *printer, e client.KVEntry) error {
	if p.json {
		return p.JSON(toKVJSON(e))
	}
	tw := p.table()
	if c := e.Clock; c != nil {
		fmt.Fprintln(tw, "KEY\tCLOCK\tORIGIN")
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Key, clockText(*c), c.Origin)
		return tw.Flush()
	}
	fmt.Fprintln(tw, "KEY\tVERSION\tCREATE_INDEX")
	fmt.Fprintf(tw, "%s\t%d\t%d\n", e.Key, e.Version, e.CreateIndex)
	return tw.Flush()
}

func printKVList(p *printer, es []client.KVEntry) error {
	if p.json {
		out := make([]kvJSON, 0, len(es))
		for _, e := range es {
			out = append(out, toKVJSON(e))
		}
		return p.JSON(out)
	}
	tw := p.table()
	if len(es) > 0 && es[0].Clock != nil {
		fmt.Fprintln(tw, "KEY\tCLOCK\tORIGIN\tVALUE")
		for _, e := range es {
			var c client.EventualClock
			if e.Clock != nil {
				c = *e.Clock
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", displayValue([]byte(e.Key)), clockText(c), c.Origin, displayValue(e.Value))
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "KEY\tVERSION\tVALUE")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", displayValue([]byte(e.Key)), e.Version, displayValue(e.Value))
	}
	return tw.Flush()
}

// clockText shows an HLC stamp as its wall clock and logical counter.
func clockText(c client.EventualClock) string {
	return c.Time().Format(time.RFC3339Nano) + "+" + strconv.FormatUint(uint64(c.Logical), 10)
}
