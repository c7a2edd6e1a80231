package kv

import (
	"errors"
	"reflect"
	"testing"

	"github.com/conclave-dev/conclave/internal/fuzzcheck"
	"github.com/conclave-dev/conclave/internal/wire"
)

// FuzzQueryResult: any bytes handed to the service's entry decoder (a
// reply off the forward protocol) decode or fail as malformed, never
// panic, allocate no more than the declared bound whatever their counts
// claim, and what decodes re-encodes to what decodes to the same entries.
func FuzzQueryResult(f *testing.F) {
	r := NewReplicated()
	for i, k := range []string{"a", "b/1", "b/2"} {
		c := Put(k, []byte("v-"+k)).Marshal()
		if _, err := r.Apply(uint64(i+1), c[2], wire.NewDecoder(c[3:])); err != nil {
			f.Fatal(err)
		}
	}
	res, _ := r.Query(queryList, wire.NewDecoder(listQuery("", 0)[3:]))
	f.Add(res[1:])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			es  []Entry
			err error
		)
		fuzzcheck.Bounded(t, "decodeEntries", fuzzcheck.Linear(len(data), 64, 4<<10), func() {
			es, err = decodeEntries(wire.NewDecoder(data))
		})
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("decodeEntries: %v is not malformed", err)
			}
			return
		}
		e := wire.NewEncoder()
		e.Uvarint(uint64(len(es)))
		for i := range es {
			encodeEntry(e, &es[i])
		}
		again, err := decodeEntries(wire.NewDecoder(e.Data()))
		if err != nil || !reflect.DeepEqual(again, es) {
			t.Fatalf("entries %+v round trip as %+v, %v", es, again, err)
		}
	})
}
