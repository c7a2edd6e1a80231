package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/conclave-dev/conclave/kv"
)

// TestRESTEventualKVStats: GET /v1/eventual-kv is the serving node's
// eventual store against its bounds (what the status page shows), readable
// with a token that may list the whole KV keyspace and refused otherwise;
// the listing the page reads beside it is bounded and sorted by key.
func TestRESTEventualKVStats(t *testing.T) {
	s := newACLCluster(t, 1, true)[0]
	mgmt := bootstrap(t, s).GetSecretId()
	app, _ := grant(t, s, mgmt, "app-reader", 0, "kv app/ read")
	all, _ := grant(t, s, mgmt, "kv-reader", 0, "kv * read")

	ekv := s.node.EventualKV()
	for _, k := range []string{"app/b", "app/a", "gone"} {
		if _, err := ekv.Put(as(t, ""), k, []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ekv.Delete(as(t, ""), "gone"); err != nil {
		t.Fatal(err)
	}

	if status, code, msg := restCall(t, http.MethodGet, s.base+"/v1/eventual-kv", nil); code != codes.Unauthenticated {
		t.Errorf("no token: %d %v %q, want Unauthenticated", status, code, msg)
	}
	if status, code, msg := restCall(t, http.MethodGet, s.base+"/v1/eventual-kv", bearer(app)); code != codes.PermissionDenied {
		t.Errorf("a token for kv app/ only: %d %v %q, want PermissionDenied (the size covers every key)", status, code, msg)
	}

	get := func(path string, v any) {
		t.Helper()
		req, err := http.NewRequestWithContext(as(t, ""), http.MethodGet, s.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+all)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, b)
		}
	}
	var st struct {
		Node          string            `json:"node"`
		Keys          int               `json:"keys"`
		Tombstones    int               `json:"tombstones"`
		Bytes         int               `json:"bytes"`
		MaxStoreBytes int               `json:"max_store_bytes"`
		MaxValueBytes int               `json:"max_value_bytes"`
		TombstoneTTL  string            `json:"tombstone_ttl"`
		Dropped       map[string]uint64 `json:"dropped"`
	}
	get("/v1/eventual-kv", &st)
	want := ekv.Store().Stats()
	d := kv.DefaultEventualConfig()
	if st.Node != s.node.Name || st.Keys != 2 || st.Tombstones != 1 || st.Bytes != want.Bytes ||
		st.Bytes < 2*(len("app/a")+len("value")+kv.EntryOverhead) {
		t.Errorf("stats %+v, want node %s, 2 keys, 1 tombstone, %d bytes", st, s.node.Name, want.Bytes)
	}
	if st.MaxStoreBytes != d.MaxStoreBytes || st.MaxValueBytes != d.MaxValueBytes || st.TombstoneTTL != d.TombstoneTTL.String() || st.Dropped == nil {
		t.Errorf("bounds %+v, want the defaults %+v and a dropped map", st, d)
	}

	var list struct {
		Entries []struct {
			Key   string `json:"key"`
			Value []byte `json:"value"`
			Clock *struct {
				WallNs int64  `json:"wall_ns"`
				Origin string `json:"origin"`
			} `json:"clock"`
		} `json:"entries"`
	}
	get("/v1/kv?store=eventual&limit=1", &list)
	if len(list.Entries) != 1 || list.Entries[0].Key != "app/a" || string(list.Entries[0].Value) != "value" ||
		list.Entries[0].Clock == nil || list.Entries[0].Clock.Origin != s.node.Name || list.Entries[0].Clock.WallNs == 0 {
		t.Errorf("eventual listing with limit=1: %+v, want app/a first by key with its clock", list.Entries)
	}
}
