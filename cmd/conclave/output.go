package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"unicode/utf8"

	"google.golang.org/grpc/status"

	"github.com/conclave-dev/conclave/api"
)

// printer writes a command's result as a table or as JSON.
type printer struct {
	w    io.Writer
	json bool
}

func newPrinter(w io.Writer, format string) (*printer, error) {
	switch format {
	case "table":
		return &printer{w: w}, nil
	case "json":
		return &printer{w: w, json: true}, nil
	default:
		return nil, fmt.Errorf("invalid --output %q: want table or json", format)
	}
}

// JSON writes v indented, one document per command.
func (p *printer) JSON(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// JSONLine writes v as one line: for streams, one document per event.
func (p *printer) JSONLine(v any) error { return json.NewEncoder(p.w).Encode(v) }

// table is a tabwriter with the layout every table uses.
func (p *printer) table() *tabwriter.Writer {
	return tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
}

// rpcError renders a gRPC status error as "<Code>: <message>" (e.g.
// "NotFound: get \"a\": not found: key \"a\""), which says both what kind
// of failure it was and what the agent said, without grpc's "rpc error:
// code = ... desc =" wrapping. The message goes through api.CleanMessage
// too: the agent's answers are clean already, but texts made by grpc on
// either side ("grpc: received message larger than max", a refused dial)
// are not.
type rpcError struct{ err error }

func (e rpcError) Error() string {
	if st, ok := status.FromError(e.err); ok {
		return st.Code().String() + ": " + api.CleanMessage(st.Code(), st.Message())
	}
	return e.err.Error()
}

func (e rpcError) Unwrap() error { return e.err }

// failed names the operation that failed and renders a gRPC error.
func failed(op string, err error) error {
	var re rpcError
	if errors.As(err, &re) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, rpcError{err})
}

// displayValue shows a value in a table cell: as is when it is printable
// UTF-8, Go-quoted otherwise, so control bytes cannot garble the terminal
// or the column layout.
func displayValue(v []byte) string {
	if !utf8.Valid(v) {
		return strconv.Quote(string(v))
	}
	for _, r := range string(v) {
		if !strconv.IsPrint(r) {
			return strconv.Quote(string(v))
		}
	}
	return string(v)
}

// yesNo renders a bool in a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// orDash renders an empty table cell visibly.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
