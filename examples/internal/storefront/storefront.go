// Package storefront is the page examples/checkout serves at GET /: plain
// HTML and a small script, no build step, that walks the browser's side of
// the vendor guide against the shop and the fanfaretest emulator. It logs in
// with the shop's toy login, asks the shop for an exchange code, trades it at
// Fanfare for a session, enters the drop's queue (showing the place in line
// while the emulator holds entries), checks out, and shows a second checkout
// with the same admission refused.
//
// The exchange and enter calls are the emulator's consumer endpoints
// (fanfaretest documents them; they answer CORS), not the real Fanfare's:
// against the real API a page uses Fanfare's browser SDK instead.
package storefront

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
)

//go:embed static
var static embed.FS

// Paths the storefront serves: mount the page at "GET /{$}" and its assets
// at "GET " + AssetPrefix.
const AssetPrefix = "/storefront/"

// Handler serves the storefront: the page for "/", its script and style
// under [AssetPrefix], 404 for anything else. apiURL is the Fanfare API the
// page calls (from the shop's GET /api/config); the page's
// Content-Security-Policy lets it connect to the shop and that origin only.
func Handler(apiURL string) http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil { // cannot happen: the directory is embedded
		panic("storefront: " + err.Error())
	}
	connect := "'self'"
	if u, err := url.Parse(apiURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		connect += " " + u.Scheme + "://" + u.Host
	}
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + connect +
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		switch r.URL.Path {
		case "/":
			name = "index.html"
		case AssetPrefix + "app.js":
			name = "app.js"
		case AssetPrefix + "style.css":
			name = "style.css"
		default:
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, name)
	})
}
