package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRESTMuxRefusalsAreJSON: what the mux itself refuses (a method the
// path does not take, a path nothing serves) comes back in the REST error
// shape, not Go's text/plain, with the 405's Allow header kept; a good
// request and a redirect to the cleaned path are untouched.
func TestRESTMuxRefusalsAreJSON(t *testing.T) {
	node := newFakeNode("n1")
	s := startServer(t, node.services())
	base := "http://" + s.srv.HTTPAddr().String()

	tests := map[string]struct {
		method, path string
		status       int
		code, msg    string
		allow        []string
	}{
		"POST on a key":          {"POST", "/v1/kv/app/x", 405, "Unimplemented", "method POST not allowed on /v1/kv/app/x", []string{"GET", "PUT", "DELETE"}},
		"DELETE on members":      {"DELETE", "/v1/members", 405, "Unimplemented", "method DELETE not allowed on /v1/members", []string{"GET"}},
		"PUT on an unknown v1":   {"PUT", "/v1/nothing", 405, "Unimplemented", "method PUT not allowed on /v1/nothing", []string{"GET"}},
		"POST on health":         {"POST", "/v1/health/live", 405, "Unimplemented", "not allowed on /v1/health/live", []string{"GET"}},
		"GET on an unknown v1":   {"GET", "/v1/nothing", 404, "NotFound", "no endpoint GET /v1/nothing", nil},
		"GET outside /v1 and ui": {"GET", "/nothing", 404, "NotFound", "no endpoint GET /nothing", nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader("v"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body := string(b)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			code, msg := restErr(t, body)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("error = %s %q, want %s containing %q", code, msg, tc.code, tc.msg)
			}
			for _, m := range tc.allow {
				if allow := resp.Header.Get("Allow"); !strings.Contains(allow, m) {
					t.Errorf("Allow %q lacks %s", allow, m)
				}
			}
		})
	}

	// Untouched: a good request, and the mux's redirect of an unclean path.
	if code, body := do(t, "GET", base+"/v1/members", "", nil); code != 200 {
		t.Errorf("GET /v1/members: %d %s", code, body)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(base + "/v1//members")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/v1/members" {
		t.Errorf("GET /v1//members: %d Location %q, want a redirect to /v1/members", resp.StatusCode, resp.Header.Get("Location"))
	}
}
