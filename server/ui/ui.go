// Package ui is sanmob's web console: static HTML, CSS and JavaScript
// modules embedded in the binary and served under /ui/. The files are
// public; the page asks for a bearer token, keeps it in sessionStorage and
// sends it in the Authorization header of every API call it makes (event
// streams too: they are read with fetch, never EventSource, so that the
// token stays out of URLs).
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// Prefix is where the console is served.
const Prefix = "/ui/"

// Handler serves the console's files under Prefix. Every answer forbids
// anything but this origin's own scripts, styles and API (no CDN, no inline
// script) and tells browsers to revalidate, so that a new daemon's console
// replaces the old one at once.
func Handler() http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	fsrv := http.StripPrefix(Prefix, http.FileServer(http.FS(static)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		fsrv.ServeHTTP(w, r)
	})
}
