package naming

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The encodings below were captured from the name table as package
// cluster held it before issue 13 (with its private codec): commands,
// results, queries, snapshots, gossip messages and acks are wire format
// and must not change by a byte. Refusal details lost their sentinel
// prefix ("naming: not the owner: ...") on purpose: the code carries the
// meaning.

// goldenT0 is the proposer's clock in the golden commands.
var goldenT0 = time.Unix(0, 1_700_000_000_000_000_000).UTC()

func mustHex(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if h := hex.EncodeToString(got); h != want {
		t.Errorf("%s:\n got %s\nwant %s", what, h, want)
	}
}

func TestGoldenCommands(t *testing.T) {
	for what, tc := range map[string]struct {
		got  []byte
		want string
	}{
		"register":   {Register{Name: "svc", PID: "n1/s1", Meta: []byte("10.0.0.1:80"), Now: goldenT0}.Marshal(), "01030103737663056e312f73310b31302e302e302e313a38308080a8b1e39fe7cb17"},
		"reserve":    {Reserve{Name: "strong", PID: "n2/s1", Meta: []byte("m"), Deadline: goldenT0.Add(time.Second), Now: goldenT0}.Marshal(), "010302067374726f6e67056e322f7331016d8094938ee79fe7cb178080a8b1e39fe7cb17"},
		"activate":   {Activate{Name: "strong", PID: "n2/s1", Now: goldenT0.Add(1)}.Marshal(), "010303067374726f6e67056e322f73318180a8b1e39fe7cb17"},
		"cancel":     {Cancel{Name: "strong", PID: "n2/s1"}.Marshal(), "010304067374726f6e67056e322f7331"},
		"unregister": {Unregister{Name: "svc", PID: "n1/s1"}.Marshal(), "01030503737663056e312f7331"},
		"get":        {getQuery("svc"), "01030103737663"},
		"list":       {listQuery(""), "01030200"},
		"ack req":    {encodeAckRequest("svc", "n1/s1"), "0103737663056e312f7331"},
		"ack no":     {encodeAckConflict("n2/s1", ScopeStrong), "01056e322f733104"},
	} {
		mustHex(t, what, tc.got, tc.want)
	}
}

// applyCmd applies an encoded command to tb as the FSM envelope does (an
// error as an Invalid refusal).
func applyCmd(t *testing.T, tb *Table, index uint64, cmd []byte) []byte {
	t.Helper()
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil || table != TableID {
		t.Fatalf("command header: table %d, %v", table, err)
	}
	r, err := tb.Apply(index, op, d)
	if err != nil {
		return wire.Refusal(err)
	}
	return r
}

func queryCmd(t *testing.T, tb *Table, q []byte) []byte {
	t.Helper()
	_, op, d, err := wire.ParseCommand(q)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tb.Query(op, d)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	return r
}

func refusalHex(code wire.Code, detail string) string {
	return hex.EncodeToString(wire.Refusal(&wire.Error{Code: code, Detail: detail}))
}

func TestGoldenResults(t *testing.T) {
	reg := Register{Name: "svc", PID: "n1/s1", Meta: []byte("10.0.0.1:80"), Now: goldenT0}.Marshal()
	res := Reserve{Name: "strong", PID: "n2/s1", Meta: []byte("m"), Deadline: goldenT0.Add(time.Second), Now: goldenT0}.Marshal()
	tb := NewTable(nil)
	for i, s := range []struct {
		what string
		cmd  []byte
		want string
	}{
		{"register", reg, "0003737663056e312f7331030b31302e302e302e313a38300a8080a8b1e39fe7cb17"},
		{"register again", reg, "0003737663056e312f7331030b31302e302e302e313a38300a8080a8b1e39fe7cb17"},
		{"register taken", Register{Name: "svc", PID: "n3/s1", Now: goldenT0}.Marshal(), "073c6e616d6520227376632220697320616c72656164792072656769737465726564206279206e312f7331202873636f706520636f6e73697374656e7429056e312f73310300"},
		{"reserve", res, "0000"},
		{"reserve taken", Reserve{Name: "strong", PID: "n3/s1", Deadline: goldenT0.Add(time.Second), Now: goldenT0}.Marshal(), "07396e616d6520227374726f6e672220697320616c7265616479207265736572766564206279206e322f7331202873636f7065207374726f6e6729056e322f73310401"},
		{"activate", Activate{Name: "strong", PID: "n2/s1", Now: goldenT0.Add(1)}.Marshal(), "00067374726f6e67056e322f733104016d0f8180a8b1e39fe7cb17"},
		{"reserve bound", res, "0001067374726f6e67056e322f733104016d0f8180a8b1e39fe7cb17"},
		{"unregister not owner", Unregister{Name: "svc", PID: "n9/s1"}.Marshal(),
			refusalHex(CodeNotOwner, `name "svc" is registered by n1/s1, not n9/s1`)},
		{"unregister not found", Unregister{Name: "zzz", PID: "n9/s1"}.Marshal(),
			refusalHex(wire.NotFound, `name "zzz" is not registered`)},
		{"activate expired", Activate{Name: "nothing", PID: "n2/s1", Now: goldenT0.Add(1)}.Marshal(),
			refusalHex(CodeExpired, `name "nothing" has no reservation by n2/s1`)},
		{"reserve late", Reserve{Name: "late", PID: "n2/s1", Meta: []byte("m"), Deadline: goldenT0, Now: goldenT0.Add(time.Second)}.Marshal(),
			refusalHex(wire.Invalid, "invalid argument: deadline: 2023-11-14 22:13:20 +0000 UTC is not after the command's time 2023-11-14 22:13:21 +0000 UTC")},
		{"cancel", Cancel{Name: "strong", PID: "n2/s1"}.Marshal(), "00"},
		{"unregister", Unregister{Name: "svc", PID: "n1/s1"}.Marshal(), "00"},
	} {
		mustHex(t, s.what, applyCmd(t, tb, uint64(i+10), s.cmd), s.want)
	}
	applyCmd(t, tb, 50, reg)
	mustHex(t, "get", queryCmd(t, tb, getQuery("svc")), "000103737663056e312f7331030b31302e302e302e313a3830328080a8b1e39fe7cb17")
	mustHex(t, "list", queryCmd(t, tb, listQuery("")), "0002067374726f6e67056e322f733104016d0f8180a8b1e39fe7cb1703737663056e312f7331030b31302e302e302e313a3830328080a8b1e39fe7cb17")
	mustHex(t, "get not found", queryCmd(t, tb, getQuery("nope")), "011d6e616d6520226e6f706522206973206e6f742072656769737465726564")
	applyCmd(t, tb, 51, res)
	b, _ := tb.st.MarshalBinary()
	mustHex(t, "snapshot", b, "0102067374726f6e67056e322f733104016d0f8180a8b1e39fe7cb1703737663056e312f7331030b31302e302e302e313a3830328080a8b1e39fe7cb1700")
}

func TestGoldenStateAndGossip(t *testing.T) {
	b, _ := sampleNameTable().MarshalBinary()
	mustHex(t, "sample state", b, "0102067374726f6e67046e322f73040178048080a8b1e39fe7cb1703737663046e312f73030b31302e302e302e313a3830018080a8b1e39fe7cb17010770656e64696e67046e322f73000280b0c5f3c2a1e7cb17")
	e := NewEventual("me", 5, func(string) bool { return true }, time.Minute)
	_, _, d, _ := e.Register(t0, "svc", "me/1", []byte("10.0.0.1:80"))
	mustHex(t, "delta", d, "0101026d65050103737663050100046d652f310b31302e302e302e313a38308080a8b1e39fe7cb17")
	_, d, _ = e.Unregister(t0.Add(time.Second), "svc", "me/1")
	mustHex(t, "tombstone", d, "0101026d6505010373766305020100008080a8b1e39fe7cb17")
	e.Register(t0, "x", "me/2", nil)
	mustHex(t, "state", e.State(), "0201026d6505020373766305020100008080a8b1e39fe7cb170178050300046d652f32008080a8b1e39fe7cb17")
}
