package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conclave-dev/conclave/api/client"
)

// The registry's read commands (list, show, watch) and the output of
// every service command.

// filterFlags select instances in list, show and watch.
type filterFlags struct {
	tag, group string
	passing    bool
}

func (ff *filterFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&ff.tag, "tag", "", "only the instances with this tag")
	fs.StringVar(&ff.group, "group", "", "only the instances in this group")
	fs.BoolVar(&ff.passing, "passing", false, "only the passing instances")
}

func (ff filterFlags) filter(service string) client.ServiceFilter {
	return client.ServiceFilter{Service: service, Tag: ff.tag, Group: ff.group, PassingOnly: ff.passing}
}

func newServiceListCmd(f *clientFlags) *cobra.Command {
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "list [NAME]",
		Short: "List the services (with counts by health), or the instances of one",
		Args:  argNames("[NAME]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && (ff.tag != "" || ff.group != "" || ff.passing) {
				return fmt.Errorf("service list: --tag, --group and --passing select instances: name the service (usage: %s)", usageLine(cmd))
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				if len(args) == 0 {
					sums, _, err := c.Registry().Services(ctx)
					if err != nil {
						return failed("service list", err)
					}
					return printServiceSummaries(p, sums)
				}
				insts, _, err := c.Registry().List(ctx, ff.filter(args[0]))
				if err != nil {
					return failed(fmt.Sprintf("service list %q", args[0]), err)
				}
				return printInstances(p, insts)
			})
		},
	}
	ff.register(cmd.Flags())
	return cmd
}

func newServiceShowCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME [ID]",
		Short: "Show every field of the instances of a service (or of one)",
		Args:  argNames("NAME", "[ID]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				insts, _, err := c.Registry().List(ctx, client.ServiceFilter{Service: name})
				if err != nil {
					return failed(fmt.Sprintf("service show %q", name), err)
				}
				if len(args) == 2 {
					insts = slices.DeleteFunc(insts, func(in client.Instance) bool { return in.ID != args[1] })
					if len(insts) == 0 {
						return fmt.Errorf("service show %q %q: NotFound: no such instance", name, args[1])
					}
				}
				if p.json {
					out := make([]instanceJSON, 0, len(insts))
					for _, in := range insts {
						out = append(out, toInstanceJSON(in))
					}
					return p.JSON(out)
				}
				for i, in := range insts {
					if i > 0 {
						fmt.Fprintln(p.w)
					}
					if err := printInstanceDetail(p, in); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func newServiceWatchCmd(f *clientFlags, e env) *cobra.Command {
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "watch NAME",
		Short: "Print the instances of a service, then again at every change, until interrupted",
		Long: "Print `index N: K instances` and one line per instance (`  ID ENDPOINT HEALTH NODE`),\n" +
			"then the same block at every change the agent sees, until SIGINT/SIGTERM. With -o\n" +
			"json, one JSON object per change ({\"index\": N, \"instances\": [...]}).",
		Args: argNames("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			c, p, err := f.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
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
			updates, errf, err := c.Registry().Watch(ctx, ff.filter(name))
			if err != nil {
				return failed(fmt.Sprintf("service watch %q", name), err)
			}
			for u := range updates {
				if err := printServiceUpdate(p, u); err != nil {
					return err
				}
			}
			if err := errf(); err != nil {
				return failed(fmt.Sprintf("service watch %q", name), err)
			}
			return nil
		},
	}
	ff.register(cmd.Flags())
	return cmd
}

// instanceJSON is the stable JSON shape of an instance (the REST API's).
type instanceJSON struct {
	Service      string            `json:"service"`
	ID           string            `json:"id"`
	Endpoint     string            `json:"endpoint"`
	Protocol     string            `json:"protocol"`
	Type         string            `json:"type"`
	Tags         []string          `json:"tags"`
	Groups       []string          `json:"groups"`
	Meta         map[string]string `json:"meta"`
	PID          string            `json:"pid"`
	Node         string            `json:"node"`
	Health       string            `json:"health"`
	Output       string            `json:"output"`
	RegisteredAt *string           `json:"registered_at"`
	LastSeen     *string           `json:"last_seen"`
	CreateIndex  uint64            `json:"create_index"`
	ModifyIndex  uint64            `json:"modify_index"`
}

func toInstanceJSON(in client.Instance) instanceJSON {
	out := instanceJSON{Service: in.Service, ID: in.ID, Endpoint: in.Endpoint, Protocol: in.Protocol, Type: in.Type,
		Tags: in.Tags, Groups: in.Groups, Meta: in.Meta, PID: in.PID, Node: in.Node, Health: in.Health.String(),
		Output: in.Output, RegisteredAt: jsonTime(in.RegisteredAt), LastSeen: jsonTime(in.LastSeen),
		CreateIndex: in.CreateIndex, ModifyIndex: in.ModifyIndex}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	if out.Meta == nil {
		out.Meta = map[string]string{}
	}
	return out
}

func printServiceRegistered(p *printer, in client.Instance) error {
	if p.json {
		return p.JSON(toInstanceJSON(in))
	}
	_, err := fmt.Fprintf(p.w, "registered %s id %s endpoint %s pid %s\n", displayValue([]byte(in.Service)),
		displayValue([]byte(in.ID)), displayValue([]byte(in.Endpoint)), in.PID)
	return err
}

func printServiceSummaries(p *printer, sums []client.ServiceSummary) error {
	if p.json {
		type summaryJSON struct {
			Name     string   `json:"name"`
			Passing  int      `json:"passing"`
			Warning  int      `json:"warning"`
			Critical int      `json:"critical"`
			Tags     []string `json:"tags"`
		}
		out := make([]summaryJSON, 0, len(sums))
		for _, s := range sums {
			tags := s.Tags
			if tags == nil {
				tags = []string{}
			}
			out = append(out, summaryJSON{s.Name, s.Passing, s.Warning, s.Critical, tags})
		}
		return p.JSON(out)
	}
	tw := p.table()
	fmt.Fprintln(tw, "SERVICE\tPASSING\tWARNING\tCRITICAL\tTAGS")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", displayValue([]byte(s.Name)), s.Passing, s.Warning, s.Critical,
			orDash(displayValue([]byte(strings.Join(s.Tags, ",")))))
	}
	return tw.Flush()
}

func printInstances(p *printer, insts []client.Instance) error {
	if p.json {
		out := make([]instanceJSON, 0, len(insts))
		for _, in := range insts {
			out = append(out, toInstanceJSON(in))
		}
		return p.JSON(out)
	}
	tw := p.table()
	fmt.Fprintln(tw, "ID\tENDPOINT\tPROTOCOL\tHEALTH\tNODE\tTAGS\tLAST_SEEN")
	for _, in := range insts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", displayValue([]byte(in.ID)), displayValue([]byte(in.Endpoint)),
			in.Protocol, in.Health, in.Node, orDash(displayValue([]byte(strings.Join(in.Tags, ",")))), tableTime(in.LastSeen))
	}
	return tw.Flush()
}

func printInstanceDetail(p *printer, in client.Instance) error {
	tw := p.table()
	keys := make([]string, 0, len(in.Meta))
	for k := range in.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	meta := make([]string, 0, len(keys))
	for _, k := range keys {
		meta = append(meta, k+"="+in.Meta[k])
	}
	for _, row := range [][2]string{
		{"service", in.Service}, {"id", in.ID}, {"endpoint", in.Endpoint}, {"protocol", in.Protocol},
		{"type", orDash(in.Type)}, {"tags", orDash(strings.Join(in.Tags, ","))}, {"groups", orDash(strings.Join(in.Groups, ","))},
		{"meta", orDash(strings.Join(meta, ","))}, {"pid", in.PID}, {"node", in.Node}, {"health", in.Health.String()},
		{"output", orDash(in.Output)}, {"registered_at", tableTime(in.RegisteredAt)}, {"last_seen", tableTime(in.LastSeen)},
		{"create_index", fmt.Sprint(in.CreateIndex)}, {"modify_index", fmt.Sprint(in.ModifyIndex)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], displayValue([]byte(row[1])))
	}
	return tw.Flush()
}

func printServiceUpdate(p *printer, u client.ServiceUpdate) error {
	if p.json {
		out := struct {
			Index     uint64         `json:"index"`
			Instances []instanceJSON `json:"instances"`
		}{Index: u.Index, Instances: make([]instanceJSON, 0, len(u.Instances))}
		for _, in := range u.Instances {
			out.Instances = append(out.Instances, toInstanceJSON(in))
		}
		return p.JSONLine(out)
	}
	if _, err := fmt.Fprintf(p.w, "index %d: %d instances\n", u.Index, len(u.Instances)); err != nil {
		return err
	}
	for _, in := range u.Instances {
		if _, err := fmt.Fprintf(p.w, "  %s %s %s %s\n", displayValue([]byte(in.ID)), displayValue([]byte(in.Endpoint)),
			in.Health, in.Node); err != nil {
			return err
		}
	}
	return nil
}
