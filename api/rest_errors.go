package api

import (
	"fmt"
	"net/http"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
)

// muxErrors answers what the mux itself would refuse, a path no pattern
// matches (404) or a method none of the path's patterns takes (405), in
// the REST error shape, so that every error of the HTTP door is JSON as
// docs/rest.md says; the mux's own answers are text/plain. A 405 keeps the
// mux's Allow header and carries the code grpc-gateway gives it,
// Unimplemented.
func muxErrors(mux *http.ServeMux, log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refusal, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux returns its 404 or 405 handler with an empty pattern;
		// only running it tells which, and which methods the path allows.
		rec := &refusalRecorder{header: http.Header{}}
		refusal.ServeHTTP(rec, r)
		if rec.status != http.StatusNotFound && rec.status != http.StatusMethodNotAllowed {
			// A redirect to the cleaned path: the mux's answer stands.
			mux.ServeHTTP(w, r)
			return
		}
		var body errorJSON
		code := http.StatusNotFound
		body.Error.Code = codes.NotFound.String()
		body.Error.Message = fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)
		if rec.status == http.StatusMethodNotAllowed {
			allow := rec.header.Get("Allow")
			w.Header().Set("Allow", allow)
			code = http.StatusMethodNotAllowed
			body.Error.Code = codes.Unimplemented.String()
			body.Error.Message = fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)
		}
		writeJSON(w, log, code, body)
	})
}

// refusalRecorder keeps the status and headers of the mux's refusal and
// drops its text body.
type refusalRecorder struct {
	header http.Header
	status int
}

func (rr *refusalRecorder) Header() http.Header { return rr.header }

func (rr *refusalRecorder) WriteHeader(status int) {
	if rr.status == 0 {
		rr.status = status
	}
}

func (rr *refusalRecorder) Write(p []byte) (int, error) {
	rr.WriteHeader(http.StatusOK)
	return len(p), nil
}
