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
	node := d.Field("node").String()
	if err := d.Err(); err != nil {
		return "", err
	}
	return node, nil
}
