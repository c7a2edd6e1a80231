package pg

// Sender returns the node a groups-class message names as its sender:
// every message type starts with it (see the wire format in wire.go). The
// transport compares it with the connection's verified node before Handle
// applies the message to that node's members. Malformed input gives an
// error wrapping ErrMalformed.
func Sender(req []byte) (string, error) {
	_, d, err := header(req)
	if err != nil {
		return "", err
	}
	node := d.string("node")
	if d.err != nil {
		return "", d.err
	}
	return node, nil
}
