package wire

import "fmt"

// CommandVersion is the first byte of every replicated command and query:
// version(1) table(1) op(1) fields. Tables and ops are append-only numbers
// owned by the package that defines the table; an unknown version, table or
// op is refused alike on every node.
const CommandVersion = 1

// Command starts a command (or query) for op of table; the caller appends
// the fields.
func Command(table, op byte) *Encoder { return NewEncoder(CommandVersion, table, op) }

// ParseCommand reads a command's header. It fails on an empty or
// truncated header and on an unknown version.
func ParseCommand(b []byte) (table, op byte, fields *Decoder, err error) {
	if len(b) < 3 {
		return 0, 0, nil, fmt.Errorf("%w: command header of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != CommandVersion {
		return 0, 0, nil, fmt.Errorf("command version %d not understood", b[0])
	}
	return b[1], b[2], NewDecoder(b[3:]), nil
}
