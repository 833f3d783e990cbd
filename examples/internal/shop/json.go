package shop

import (
	"encoding/json"
	"errors"
	"net/http"

	fanfare "github.com/waitify-io/fanfare-go"
)

// maxBodyBytes bounds every JSON body the shop's own handlers read.
const maxBodyBytes = 64 << 10

// writeJSON answers with v as JSON. The shop's answers carry sessions,
// orders and admission results, so none of them is cacheable.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the library's error body shape, so the browser
// sees one shape whether the library or the shop refused it.
func writeError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, fanfare.ErrorBody{Error: msg, Code: code})
}

// decodeJSON reads one JSON object from a bounded body. Unknown fields are
// allowed: the guide's bodies carry fields this shop does not read.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
