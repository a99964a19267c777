// Package web is kftray's web UI: hand-written ES modules and CSS (no
// build step, nothing fetched at run time) embedded in the binary. The
// daemon serves them under /ui/ on its loopback listener, where
// forwarder/httpapi guards every request (Host, Origin, session cookie);
// the page talks to the same /v1 JSON API as every other interface.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var files embed.FS

// Files returns the UI's files (index.html at the root).
func Files() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}

// Handler serves the UI's files for requests under /ui/.
func Handler() http.Handler {
	fsrv := http.FileServerFS(Files())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := strings.CutPrefix(r.URL.Path, "/ui")
		if !ok || p == "" {
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		}
		if p != "/" && strings.HasSuffix(p, "/") {
			// No directory listings.
			http.NotFound(w, r)
			return
		}
		// The files change with the binary: revalidate every time.
		w.Header().Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		r2.URL.RawPath = ""
		fsrv.ServeHTTP(w, r2)
	})
}
