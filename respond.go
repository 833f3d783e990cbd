package fanfare

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
)

// ErrorBody is the JSON body of every error response this package writes,
// shaped as in the vendor's guide: {"error": ..., "message": ..., "code": ...}.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
	Code    string `json:"code,omitempty"`
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only this package's own types reach here: fail closed
		status, body = http.StatusInternalServerError, bodyInternalError
	}
	writeJSONBytes(w, status, body)
}

// writeJSONBytes writes a JSON response. Every response of this package may
// carry a code or a token, or answer for one, so none is cacheable.
func writeJSONBytes(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = cacheControlNoStore
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Header values shared by every response, assigned directly: Header.Set
// allocates a slice per call.
var (
	contentTypeJSON     = []string{"application/json"}
	cacheControlNoStore = []string{"no-store"}
	nosniff             = []string{"nosniff"}
	allowPost           = []string{http.MethodPost}
	// retryAfterSeconds is the Retry-After sent with 503 answers: Fanfare's
	// outages during a drop are short, and the browser SDK retries anyway.
	retryAfterSeconds = []string{"1"}
)

// writeError writes an error answer of the handlers, with Retry-After on a 503.
func writeError(w http.ResponseWriter, status int, body []byte) {
	if status == http.StatusServiceUnavailable {
		w.Header()["Retry-After"] = retryAfterSeconds
	}
	writeJSONBytes(w, status, body)
}

// postOnly reports whether r is a POST; otherwise it answers 405 with an
// Allow header itself. A wrong method is protocol, not a policy an
// ErrorHandler could decide otherwise, so none sees it.
func postOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header()["Allow"] = allowPost
	writeJSONBytes(w, http.StatusMethodNotAllowed, bodyMethodNotAllowed)
	return false
}

// logUpstream logs a failed Fanfare call: Info when the client went away
// (which cancels the call), Warn when Fanfare was unavailable, Error when it
// refused (a wrong secret key, a request it calls bad).
func logUpstream(log *slog.Logger, r *http.Request, msg string, err error) {
	level := slog.LevelError
	switch {
	case errors.Is(r.Context().Err(), context.Canceled):
		level, msg = slog.LevelInfo, msg+" (client went away)"
	case errors.Is(err, ErrUnavailable):
		level = slog.LevelWarn
	}
	log.LogAttrs(r.Context(), level, msg, slog.String("path", r.URL.Path), slog.Any("error", err))
}

// readBody reads r's body through a cap of max bytes: a larger body is an
// *http.MaxBytesError, and the server closes the connection after the answer.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, max))
}

// mustJSON encodes a response body of this package at init time.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("fanfare: " + err.Error())
	}
	return b
}
