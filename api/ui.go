package api

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
)

// uiFiles is the status page: plain HTML, CSS and JavaScript that poll the
// REST API. Embedded, so the binary serves it with no build step and no
// external CDN.
//
//go:embed ui/index.html ui/app.js ui/style.css
var uiFiles embed.FS

// uiRoutes serves the status page under /ui/ and redirects / and /ui there.
func uiRoutes(mux *http.ServeMux) error {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		return fmt.Errorf("api: status page files: %w", err)
	}
	files := http.StripPrefix("/ui/", http.FileServer(http.FS(sub)))
	mux.Handle("GET /ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	toUI := func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) }
	mux.HandleFunc("GET /ui", toUI)
	mux.HandleFunc("GET /{$}", toUI)
	return nil
}
