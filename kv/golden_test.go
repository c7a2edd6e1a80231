package kv

import (
	"encoding/hex"
	"testing"

	"github.com/conclave-dev/conclave/internal/wire"
)

// The encodings of the KV commands and results are wire format (the Raft
// log keeps them): they must not change by a byte. New ops get new
// numbers and new lines here.
func TestGoldenEncodings(t *testing.T) {
	txnResult := func(r TxnResult) []byte {
		e := wire.Result()
		encodeTxnResult(e, &r)
		return e.Data()
	}
	for what, tc := range map[string]struct {
		got  []byte
		want string
	}{
		"put":           {Put("k", []byte("v")).Marshal(), "010101016b0176"},
		"cas":           {CompareAndSet("k", []byte("v"), 300).Marshal(), "010102016b0176ac02"},
		"delete":        {Delete("k", 7).Marshal(), "010103016b07"},
		"delete prefix": {DeletePrefix("app/").Marshal(), "010104046170702f"},
		"txn": {Txn([]Compare{{Key: "a", Version: 3}, {Key: "b", Version: 0}},
			[]Op{PutOp("a", []byte("x")), DeleteOp("b")}).Marshal(), "01010502016103016200020101610178020162"},
		"txn failed": {txnResult(TxnResult{Failed: 1, Actual: 5}), "00000105"},
		"txn done": {txnResult(TxnResult{Succeeded: true, Index: 9, Results: []OpResult{
			{Entry: Entry{Key: "a", Value: []byte("x"), Version: 9, CreateIndex: 2}},
			{Entry: Entry{Key: "b"}, Delete: true, Deleted: true},
		}}), "000109020101610178090202016201"},
		"get":  {getQuery("k"), "010101016b"},
		"list": {listQuery("a", 2), "010102016102"},
	} {
		if h := hex.EncodeToString(tc.got); h != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", what, h, tc.want)
		}
	}
}
