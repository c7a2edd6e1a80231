package kv

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/conclave-dev/conclave/internal/wire"
)

func keysOf(t *Table) []string {
	var out []string
	t.Ascend(func(e *Entry) bool { out = append(out, e.Key); return true })
	return out
}

func TestDeletePrefixDeletesOnlyThePrefix(t *testing.T) {
	tb := New()
	for i, k := range []string{"a", "app", "app/1", "app/2", "apq", "b"} {
		tb.Put(uint64(i+1), k, nil)
	}
	if n := tb.DeletePrefix("app/"); n != 2 {
		t.Fatalf("DeletePrefix(app/) = %d, want 2", n)
	}
	if got := fmt.Sprint(keysOf(tb)); got != "[a app apq b]" {
		t.Fatalf("keys after DeletePrefix(app/): %s", got)
	}
	if n := tb.DeletePrefix("zzz"); n != 0 {
		t.Fatalf("DeletePrefix(zzz) = %d, want 0", n)
	}
	if n := tb.DeletePrefix("a"); n != 3 {
		t.Fatalf("DeletePrefix(a) = %d, want 3", n)
	}
	if got := fmt.Sprint(keysOf(tb)); got != "[b]" {
		t.Fatalf("keys after DeletePrefix(a): %s", got)
	}
}

// No KV command writes under _sys, but the table must not delete there
// even for a prefix that covers it ("_").
func TestDeletePrefixSparesTheReservedPrefix(t *testing.T) {
	tb := New()
	tb.Insert(&Entry{Key: "_sys/x", Version: 1, CreateIndex: 1})
	tb.Put(2, "_user", nil)
	if n := tb.DeletePrefix("_"); n != 1 {
		t.Fatalf("DeletePrefix(_) = %d, want 1", n)
	}
	if got := fmt.Sprint(keysOf(tb)); got != "[_sys/x]" {
		t.Fatalf("keys: %s", got)
	}
}

func TestTxnAppliesEveryOpWhenEveryCompareHolds(t *testing.T) {
	tb := New()
	tb.Put(3, "a", []byte("old"))
	tb.Put(4, "b", []byte("gone"))
	r := tb.Txn(10, []Compare{{Key: "a", Version: 3}, {Key: "new", Version: 0}},
		[]Op{PutOp("a", []byte("x")), PutOp("new", []byte("y")), DeleteOp("b"), DeleteOp("never")})
	want := TxnResult{Succeeded: true, Index: 10, Results: []OpResult{
		{Entry: Entry{Key: "a", Value: []byte("x"), Version: 10, CreateIndex: 3}},
		{Entry: Entry{Key: "new", Value: []byte("y"), Version: 10, CreateIndex: 10}},
		{Entry: Entry{Key: "b"}, Delete: true, Deleted: true},
		{Entry: Entry{Key: "never"}, Delete: true, Deleted: false},
	}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("txn = %+v\nwant  %+v", r, want)
	}
	if got := fmt.Sprint(keysOf(tb)); got != "[a new]" {
		t.Fatalf("keys: %s", got)
	}
}

// A failing compare changes nothing, whichever compare it is, and says
// which one failed and what it saw.
func TestTxnFailedCompareChangesNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		compares []Compare
		failed   int
		actual   uint64
	}{
		"first, wrong version":       {[]Compare{{"a", 2}, {"b", 4}}, 0, 3},
		"second, present not absent": {[]Compare{{"a", 3}, {"b", 0}}, 1, 4},
		"second, absent not present": {[]Compare{{"a", 3}, {"zz", 9}}, 1, 0},
	} {
		t.Run(name, func(t *testing.T) {
			tb := New()
			tb.Put(3, "a", []byte("old-a"))
			tb.Put(4, "b", []byte("old-b"))
			before := snapshotOf(tb)
			r := tb.Txn(10, tc.compares, []Op{PutOp("a", []byte("x")), DeleteOp("b"), PutOp("c", nil)})
			if r.Succeeded || r.Failed != tc.failed || r.Actual != tc.actual || r.Results != nil {
				t.Fatalf("txn = %+v, want failed compare %d at version %d", r, tc.failed, tc.actual)
			}
			if after := snapshotOf(tb); after != before {
				t.Fatalf("a failed txn changed the table:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func snapshotOf(tb *Table) string {
	var b strings.Builder
	tb.Ascend(func(e *Entry) bool {
		fmt.Fprintf(&b, "%s=%q@%d/%d ", e.Key, e.Value, e.Version, e.CreateIndex)
		return true
	})
	return b.String()
}

// applyCmd screens and applies an encoded command to r as the FSM does,
// and checks that Screen and Apply agree on whether it is refused.
func applyCmd(t *testing.T, r *Replicated, index uint64, cmd []byte) ([]byte, error) {
	t.Helper()
	table, op, d, err := wire.ParseCommand(cmd)
	if err != nil || table != TableID {
		t.Fatalf("not a kv command: %v", err)
	}
	screenErr := r.Screen(op, wire.NewDecoder(cmd[3:]))
	res, err := r.Apply(index, op, d)
	if (screenErr == nil) != (err == nil) {
		t.Fatalf("Screen says %v, Apply says %v", screenErr, err)
	}
	return res, err
}

// The table refuses what breaks a rule at apply (not only the service),
// naming the field, and changes nothing; Screen refuses the same.
func TestReplicatedRefusesBadPrefixDeletesAndTxns(t *testing.T) {
	big := bytes.Repeat([]byte("v"), MaxValueBytes)
	many := make([]Op, MaxTxnItems+1)
	for i := range many {
		many[i] = DeleteOp(fmt.Sprintf("k%d", i))
	}
	// A hand-built txn whose op kind is unknown: Marshal cannot make one.
	badKind := wire.Command(TableID, opTxn)
	badKind.Uvarint(0)
	badKind.Uvarint(1)
	badKind.Byte(9)
	badKind.String("k")
	for name, tc := range map[string]struct {
		cmd   []byte
		field string
	}{
		"empty prefix":         {DeletePrefix("").Marshal(), "prefix: must not be empty"},
		"reserved prefix":      {DeletePrefix("_sys/a").Marshal(), "prefix: the prefix \"_sys\" is reserved"},
		"empty txn":            {Txn(nil, nil).Marshal(), "at least one compare or op"},
		"too many items":       {Txn([]Compare{{"a", 1}}, many[:MaxTxnItems]).Marshal(), "the limit is 64"},
		"too many ops":         {Txn(nil, many).Marshal(), "65 ops, the limit is 64"},
		"reserved op key":      {Txn(nil, []Op{PutOp("_sys/x", nil)}).Marshal(), "ops[0].key"},
		"empty compare key":    {Txn([]Compare{{"", 0}}, []Op{PutOp("a", nil)}).Marshal(), "compares[0].key"},
		"a key written twice":  {Txn(nil, []Op{PutOp("a", nil), DeleteOp("a")}).Marshal(), `ops[1].key: "a" is also written by ops[0]`},
		"over the command cap": {Txn(nil, []Op{PutOp("a", big), PutOp("b", big)}).Marshal(), "bytes encoded, the limit is"},
		"unknown op kind":      {badKind.Data(), "unknown kind 9"},
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReplicated()
			if _, err := applyCmd(t, r, 1, Put("a", []byte("1")).Marshal()); err != nil {
				t.Fatal(err)
			}
			_, err := applyCmd(t, r, 2, tc.cmd)
			if !errors.Is(err, wire.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("apply: %v, want InvalidArgument containing %q", err, tc.field)
			}
			if e, ok := r.Get("a"); !ok || e.Version != 1 || r.Len() != 1 {
				t.Fatalf("a refused command changed the table: %+v, %d keys", e, r.Len())
			}
		})
	}
}

// Two replicas applying the same entries end with the same table and
// answer every entry alike: apply is deterministic.
func TestReplicatedPrefixDeleteAndTxnAreDeterministic(t *testing.T) {
	cmds := [][]byte{
		Put("app/1", []byte("1")).Marshal(),
		Put("app/2", []byte("2")).Marshal(),
		Txn([]Compare{{"app/1", 1}}, []Op{PutOp("app/3", []byte("3")), DeleteOp("app/2")}).Marshal(),
		Txn([]Compare{{"app/1", 99}}, []Op{DeleteOp("app/1")}).Marshal(),
		DeletePrefix("app/").Marshal(),
		Txn(nil, []Op{PutOp("b", []byte("b"))}).Marshal(),
	}
	var results [2][]string
	reps := [2]*Replicated{NewReplicated(), NewReplicated()}
	for i, r := range reps {
		for j, c := range cmds {
			res, err := applyCmd(t, r, uint64(j+1), c)
			if err != nil {
				t.Fatalf("replica %d entry %d: %v", i, j+1, err)
			}
			results[i] = append(results[i], fmt.Sprintf("%x", res))
		}
	}
	if !reflect.DeepEqual(results[0], results[1]) || snapshotOf(reps[0].t) != snapshotOf(reps[1].t) {
		t.Fatalf("replicas differ:\n%v %s\n%v %s", results[0], snapshotOf(reps[0].t), results[1], snapshotOf(reps[1].t))
	}
	if got := snapshotOf(reps[0].t); got != `b="b"@6/6 ` {
		t.Fatalf("table: %s", got)
	}
	// The prefix delete's result is the count: app/1 and app/3.
	d, refused := wire.ParseResult(mustHex(t, results[0][4]))
	if refused != nil || d.Uvarint() != 2 || d.Done() != nil {
		t.Fatalf("prefix delete result %s: %v", results[0][4], refused)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTxnResultRoundTrips(t *testing.T) {
	for _, r := range []TxnResult{
		{Failed: 3, Actual: 17},
		{Succeeded: true, Index: 9, Results: []OpResult{
			{Entry: Entry{Key: "a", Value: []byte("x"), Version: 9, CreateIndex: 2}},
			{Entry: Entry{Key: "b"}, Delete: true, Deleted: true},
			{Entry: Entry{Key: "c"}, Delete: true},
		}},
	} {
		e := wire.NewEncoder()
		encodeTxnResult(e, &r)
		got, err := decodeTxnResult(wire.NewDecoder(e.Data()))
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("%+v round trips as %+v, %v", r, got, err)
		}
	}
}
