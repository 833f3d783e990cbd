package fanfare

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the JSON body of every error response this package writes,
// shaped as in the vendor's guide: {"error": ..., "message": ..., "code": ...}.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
}

// writeJSON writes v as a JSON response. Every response of this package may
// carry a code or a token, or answer for one, so none is cacheable.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only this package's own types reach here; a failure is a bug.
		// Fail closed with a body that cannot fail.
		status, body = http.StatusInternalServerError, []byte(`{"error":"Internal server error"}`)
	}
	writeJSONBytes(w, status, body)
}

// writeJSONBytes writes a pre-encoded JSON body, for hot paths that encode
// their bodies once at construction.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = cacheControlNoStore
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Header values shared by every response; assigned directly to avoid the
// per-call slice that Header.Set allocates.
var (
	contentTypeJSON     = []string{"application/json"}
	cacheControlNoStore = []string{"no-store"}
	nosniff             = []string{"nosniff"}
)
