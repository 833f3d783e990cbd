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

// WriteError writes the default answer to the err an ErrorHandler of this
// package receives. An *[AdmissionError] (from [RequireAdmission]) gets its
// Status and the guide's JSON body with its Code, and Retry-After on a 503;
// the errors of the authorize chain ([RateLimitAuthorize], [SanitizeClaims],
// [NewAuthorizeHandler]) and of [NewValidateAdmissionHandler] get:
//
//   - ErrRateLimited: 429 {"error":"Too many auth requests"} (Retry-After is already set);
//   - a limiter that could not decide: 503 {"error":"Service unavailable"};
//   - ErrNoIdentity: 401 {"error":"Unauthorized"};
//   - ErrClaimsTooLarge: 413 {"error":"Claims too large"};
//   - ErrInvalidClaims: 500 {"error":"Internal server error"};
//   - an *http.MaxBytesError (errors.As): 413 {"error":"Request body too large"};
//   - ErrInvalidRequestBody: 400 {"error":"queueId or drawId required"} when
//     the body names no distribution, else 400 {"error":"Invalid request body"};
//   - ErrAdmissionInvalid: 403 {"valid":false,"error":"Invalid or expired admission token"};
//   - ErrUnavailable (Fanfare unreachable, timed out, 5xx, garbage): 503 with Retry-After;
//   - anything else, Fanfare's refusal (e.g. ErrUnauthorized: the secret key): 502.
//
// Those 503 and 502 bodies are {"error":"Validation failed"} for a validate
// call and {"error":"Authentication failed"} otherwise. A custom ErrorHandler
// can call WriteError for the errors it does not render; never write err
// itself into a response.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if ae := admissionErrorOf(err); ae != nil {
		writeAdmissionError(w, ae)
		return
	}
	for _, a := range answers {
		if errors.Is(err, a.err) || a.err == nil && isMaxBytes(err) {
			writeJSONBytes(w, a.status, a.body)
			return
		}
	}
	status := http.StatusBadGateway
	if errors.Is(err, ErrUnavailable) {
		status = http.StatusServiceUnavailable
		w.Header()["Retry-After"] = retryAfterSeconds
	}
	writeJSONBytes(w, status, failedCallBody(err))
}

// answers are WriteError's, tried in order; the nil error stands for an
// *http.MaxBytesError.
var answers = []struct {
	err    error
	status int
	body   []byte
}{
	{ErrRateLimited, http.StatusTooManyRequests, mustJSON(ErrorBody{Error: "Too many auth requests"})},
	{errNoDecision, http.StatusServiceUnavailable, mustJSON(ErrorBody{Error: "Service unavailable"})},
	{ErrNoIdentity, http.StatusUnauthorized, mustJSON(ErrorBody{Error: "Unauthorized"})},
	{ErrClaimsTooLarge, http.StatusRequestEntityTooLarge, mustJSON(ErrorBody{Error: "Claims too large"})},
	{ErrInvalidClaims, http.StatusInternalServerError, bodyInternalError},
	{nil, http.StatusRequestEntityTooLarge, mustJSON(ErrorBody{Error: "Request body too large"})},
	{errNoDistribution, http.StatusBadRequest, mustJSON(ErrorBody{Error: "queueId or drawId required"})},
	{ErrInvalidRequestBody, http.StatusBadRequest, mustJSON(ErrorBody{Error: "Invalid request body"})},
	{ErrAdmissionInvalid, http.StatusForbidden, []byte(`{"valid":false,"error":"Invalid or expired admission token"}`)},
}

// admissionErrorOf returns err's *AdmissionError, if any, without an
// allocation for the error RequireAdmission passes.
func admissionErrorOf(err error) *AdmissionError {
	if ae, ok := err.(*AdmissionError); ok {
		return ae
	}
	var ae *AdmissionError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

func isMaxBytes(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

// failedCallBody is the body of a failed call to Fanfare, which the
// client's errors name.
func failedCallBody(err error) []byte {
	var apiErr *APIError
	var unavailable *unavailableError
	if errors.As(err, &apiErr) && apiErr.Op == "validate" || errors.As(err, &unavailable) && unavailable.op == "validate" {
		return bodyValidationFailed
	}
	return bodyAuthFailed
}

// Response bodies of the handlers, encoded once.
var (
	bodyMethodNotAllowed = mustJSON(ErrorBody{Error: "Method not allowed"})
	bodyInternalError    = mustJSON(ErrorBody{Error: "Internal server error"})
	bodyAuthFailed       = mustJSON(ErrorBody{Error: "Authentication failed"})
	bodyValidationFailed = mustJSON(ErrorBody{Error: "Validation failed"})
	bodyValid            = []byte(`{"valid":true}`)
)

// Header values shared by every response, assigned directly: Header.Set
// allocates a slice per call.
var (
	contentTypeJSON     = []string{"application/json"}
	cacheControlNoStore = []string{"no-store"}
	nosniff             = []string{"nosniff"}
	allowPost           = []string{http.MethodPost}
	retryAfterSeconds   = []string{"1"} // Fanfare's outages are short; the SDK retries anyway
)

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
// *http.MaxBytesError, and closes the connection after the answer.
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
