package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/conclave-dev/conclave/api/client"
	"github.com/conclave-dev/conclave/kv"
)

// maxDocBytes bounds a kv txn or kv import document read into memory.
const maxDocBytes = 256 << 20

// readDoc reads the document a verb was given: FILE, or stdin for "-" or
// no argument.
func readDoc(cmd *cobra.Command, verb string, args []string) ([]byte, string, error) {
	name, r := "stdin", cmd.InOrStdin()
	if len(args) == 1 && args[0] != "-" {
		name = args[0]
		f, err := os.Open(args[0])
		if err != nil {
			return nil, name, fmt.Errorf("%s: %w", verb, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxDocBytes+1))
	switch {
	case err != nil:
		return nil, name, fmt.Errorf("%s: read %s: %w", verb, name, err)
	case len(b) > maxDocBytes:
		return nil, name, fmt.Errorf("%s: %s is larger than %d bytes", verb, name, maxDocBytes)
	}
	return b, name, nil
}

// decodeStrict decodes one JSON document into v, refusing unknown fields
// (a misspelt "verison" must not silently mean "absent") and trailing data.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON document")
	}
	return nil
}

// valueJSON is a value in a document: "value" is text (UTF-8),
// "value_base64" any bytes; at most one of them, neither meaning empty.
type valueJSON struct {
	Value       *string `json:"value"`
	ValueBase64 []byte  `json:"value_base64"`
}

func (v valueJSON) bytes(field string) ([]byte, error) {
	if v.Value != nil && v.ValueBase64 != nil {
		return nil, fmt.Errorf("%s: give value or value_base64, not both", field)
	}
	if v.Value != nil {
		return []byte(*v.Value), nil
	}
	return v.ValueBase64, nil
}

// txnDoc is kv txn's document:
//
//	{"compare": [{"key": "a", "version": 3}],
//	 "ops": [{"put": {"key": "a", "value": "x"}}, {"delete": {"key": "b"}}]}
type txnDoc struct {
	Compare []struct {
		Key     string  `json:"key"`
		Version *uint64 `json:"version"`
	} `json:"compare"`
	Ops []struct {
		Put *struct {
			Key string `json:"key"`
			valueJSON
		} `json:"put"`
		Delete *struct {
			Key string `json:"key"`
		} `json:"delete"`
	} `json:"ops"`
}

// parseTxn reads a txn document into the SDK's compares and ops, naming
// the element at fault.
func parseTxn(b []byte) ([]client.TxnCompare, []client.TxnOp, error) {
	var doc txnDoc
	if err := decodeStrict(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a txn document (%w); want {\"compare\": [{\"key\": K, \"version\": V}], \"ops\": [{\"put\": {\"key\": K, \"value\": V}}, {\"delete\": {\"key\": K}}]}", err)
	}
	compares := make([]client.TxnCompare, 0, len(doc.Compare))
	for i, c := range doc.Compare {
		if c.Version == nil {
			return nil, nil, fmt.Errorf("compare[%d]: version is missing (0 means the key must be absent)", i)
		}
		compares = append(compares, client.TxnCompare{Key: c.Key, Version: *c.Version})
	}
	ops := make([]client.TxnOp, 0, len(doc.Ops))
	for i, o := range doc.Ops {
		switch {
		case (o.Put == nil) == (o.Delete == nil):
			return nil, nil, fmt.Errorf("ops[%d]: want exactly one of put or delete", i)
		case o.Put != nil:
			v, err := o.Put.bytes(fmt.Sprintf("ops[%d].put", i))
			if err != nil {
				return nil, nil, err
			}
			ops = append(ops, client.TxnPut(o.Put.Key, v))
		default:
			ops = append(ops, client.TxnDelete(o.Delete.Key))
		}
	}
	if len(compares)+len(ops) == 0 {
		return nil, nil, errors.New("the document has no compare and no op")
	}
	return compares, ops, nil
}

func newKVTxnCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "txn [FILE]",
		Short: "Apply puts and deletes atomically if every version compare holds",
		Long: "Apply a transaction read from FILE (or stdin, for - or no FILE): every compare\n" +
			"checks a key's version (0: the key is absent); if all hold, every op is applied\n" +
			"in one write, else nothing is, and the command fails naming the first compare\n" +
			"that did not hold. At most 64 compares and ops together; a key in one op only.\n\n" +
			"  {\"compare\": [{\"key\": \"a\", \"version\": 3}],\n" +
			"   \"ops\": [{\"put\": {\"key\": \"a\", \"value\": \"x\"}}, {\"delete\": {\"key\": \"b\"}}]}\n\n" +
			"A put's value is text; \"value_base64\" instead gives any bytes.",
		Args: argNames("[FILE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, name, err := readDoc(cmd, "kv txn", args)
			if err != nil {
				return err
			}
			compares, ops, err := parseTxn(b)
			if err != nil {
				return fmt.Errorf("kv txn: %s: %w", name, err)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				r, err := c.KV().Txn(ctx, compares, ops)
				if err != nil {
					return failed("kv txn", err)
				}
				if !r.Succeeded {
					return txnFailed(compares, r)
				}
				return printTxn(p, r)
			})
		},
	}
}

// txnFailed is the error of a transaction whose compare failed.
func txnFailed(compares []client.TxnCompare, r client.TxnResult) error {
	if r.FailedCompare < 0 || r.FailedCompare >= len(compares) {
		return fmt.Errorf("kv txn: compare[%d] failed; nothing was written", r.FailedCompare)
	}
	c := compares[r.FailedCompare]
	want := fmt.Sprintf("version %d", c.Version)
	if c.Version == 0 {
		want = "absent"
	}
	is := fmt.Sprintf("is at version %d", r.ActualVersion)
	if r.ActualVersion == 0 {
		is = "is absent"
	}
	return fmt.Errorf("kv txn: compare[%d] failed: key %s %s, want %s; nothing was written", r.FailedCompare, truncate(c.Key), is, want)
}

func printTxn(p *printer, r client.TxnResult) error {
	if p.json {
		type opJSON struct {
			Op      string  `json:"op"`
			Key     string  `json:"key"`
			Version *uint64 `json:"version,omitempty"`
			Deleted *bool   `json:"deleted,omitempty"`
		}
		out := struct {
			Index uint64   `json:"index"`
			Ops   []opJSON `json:"ops"`
		}{Index: r.Index, Ops: make([]opJSON, 0, len(r.Results))}
		for _, o := range r.Results {
			if o.Delete {
				out.Ops = append(out.Ops, opJSON{Op: "delete", Key: o.Entry.Key, Deleted: &o.Deleted})
				continue
			}
			out.Ops = append(out.Ops, opJSON{Op: "put", Key: o.Entry.Key, Version: &o.Entry.Version})
		}
		return p.JSON(out)
	}
	tw := p.table()
	fmt.Fprintln(tw, "OP\tKEY\tRESULT")
	for _, o := range r.Results {
		switch {
		case !o.Delete:
			fmt.Fprintf(tw, "put\t%s\tversion %d\n", displayValue([]byte(o.Entry.Key)), o.Entry.Version)
		case o.Deleted:
			fmt.Fprintf(tw, "delete\t%s\tdeleted\n", displayValue([]byte(o.Entry.Key)))
		default:
			fmt.Fprintf(tw, "delete\t%s\tnot there\n", displayValue([]byte(o.Entry.Key)))
		}
	}
	return tw.Flush()
}

func newKVExportCmd(f *clientFlags) *cobra.Command {
	var prefix, mode string
	cmd := &cobra.Command{
		Use:   "export [--prefix PREFIX]",
		Short: "Write the keys (with a prefix) as a JSON document kv import reads",
		Long: "Write every key with PREFIX (all keys without it) that the token may read to\n" +
			"stdout as a JSON array in key order, the shape kv list -o json prints:\n\n" +
			"  [{\"key\": \"a\", \"value\": \"text\", \"version\": 5, \"create_index\": 2},\n" +
			"   {\"key\": \"b\", \"value\": null, \"value_base64\": \"AP8=\", \"version\": 7, \"create_index\": 7}]\n\n" +
			"A value that is UTF-8 is written as text in \"value\"; any other value is null there\n" +
			"and its bytes are in \"value_base64\". kv import ignores the versions.",
		Args: argNames(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				es, err := c.KV().List(ctx, prefix, m)
				if err != nil {
					return failed(fmt.Sprintf("kv export %q", prefix), err)
				}
				out := make([]kvJSON, 0, len(es))
				for _, e := range es {
					out = append(out, toKVJSON(e))
				}
				enc := json.NewEncoder(p.w)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			})
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "export only the keys with this prefix")
	cmd.Flags().StringVar(&mode, "mode", "default", modeUsage)
	return cmd
}

// importEntry is one element of kv import's document: export's shape
// (version and create_index are read and ignored).
type importEntry struct {
	Key string `json:"key"`
	valueJSON
	Version     uint64 `json:"version"`
	CreateIndex uint64 `json:"create_index"`
}

// importBatches reads an export document and cuts its puts into
// transactions the server takes: at most kv.MaxTxnItems ops each, within
// kv.MaxCommandBytes encoded (checked with the table's own rules, so a
// batch is never refused for its size). A bad entry is refused before
// anything is written, naming it.
func importBatches(b []byte) ([][]client.TxnOp, int, error) {
	var doc []importEntry
	if err := decodeStrict(b, &doc); err != nil {
		return nil, 0, fmt.Errorf("not an export document (%w); want [{\"key\": K, \"value\": V}, ...]", err)
	}
	seen := make(map[string]int, len(doc))
	var (
		batches [][]client.TxnOp
		cur     []kv.Op
	)
	flush := func() {
		if len(cur) == 0 {
			return
		}
		ops := make([]client.TxnOp, 0, len(cur))
		for _, o := range cur {
			ops = append(ops, client.TxnPut(o.Key, o.Value))
		}
		batches = append(batches, ops)
		cur = nil
	}
	for i, e := range doc {
		v, err := e.bytes(fmt.Sprintf("[%d]", i))
		if err != nil {
			return nil, 0, err
		}
		if j, dup := seen[e.Key]; dup {
			return nil, 0, fmt.Errorf("[%d]: key %s is also at [%d]", i, truncate(e.Key), j)
		}
		seen[e.Key] = i
		op := kv.PutOp(e.Key, v)
		if err := kv.Txn(nil, []kv.Op{op}).Validate(); err != nil {
			return nil, 0, fmt.Errorf("[%d] (key %s): %w", i, truncate(e.Key), err)
		}
		if len(cur) == kv.MaxTxnItems || kv.Txn(nil, append(cur[:len(cur):len(cur)], op)).Validate() != nil {
			flush()
		}
		cur = append(cur, op)
	}
	flush()
	return batches, len(doc), nil
}

func newKVImportCmd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "import [FILE]",
		Short: "Put the keys of a kv export document (FILE, or stdin)",
		Long: "Put every key of a document kv export wrote (FILE, or stdin for - or no FILE).\n" +
			"The puts go in transactions of up to 64 keys (fewer for large values), each\n" +
			"atomic; existing keys are overwritten. The whole document is checked first:\n" +
			"a bad entry or a key given twice writes nothing. If a transaction fails, the\n" +
			"ones before it stay written and the error says how many keys were imported.",
		Args: argNames("[FILE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, name, err := readDoc(cmd, "kv import", args)
			if err != nil {
				return err
			}
			batches, total, err := importBatches(b)
			if err != nil {
				return fmt.Errorf("kv import: %s: %w", name, err)
			}
			return f.call(cmd, func(ctx context.Context, c *client.Client, p *printer) error {
				done := 0
				for i, ops := range batches {
					if _, err := c.KV().Txn(ctx, nil, ops); err != nil {
						return failed(fmt.Sprintf("kv import: transaction %d of %d (from key %q; %d of %d keys imported before it)",
							i+1, len(batches), ops[0].Key, done, total), err)
					}
					done += len(ops)
				}
				if p.json {
					return p.JSON(struct {
						Imported     int `json:"imported"`
						Transactions int `json:"transactions"`
					}{done, len(batches)})
				}
				_, err := fmt.Fprintf(p.w, "imported %d %s in %d %s\n", done, plural(done, "key", "keys"),
					len(batches), plural(len(batches), "transaction", "transactions"))
				return err
			})
		},
	}
}
