package fanfare

import (
	"errors"
	"net/http"
	"strconv"
)

// Sentinel errors, for use with [errors.Is]. Errors returned by [Client]
// methods match at most one of ErrUnauthorized, ErrNotFound and
// ErrUnavailable; any other refusal is an *[APIError] whose Code says what
// Fanfare said.
var (
	// ErrUnauthorized: Fanfare refused the organization id or secret key.
	ErrUnauthorized = errors.New("fanfare: credentials refused")
	// ErrNotFound: Fanfare knows no such admission or distribution.
	ErrNotFound = errors.New("fanfare: not found")
	// ErrUnavailable: Fanfare could not give an answer — a network error, a
	// timeout, a 5xx or 429 status, or a response that is not what the API
	// promises. Callers use it to answer 503 rather than 403: the consumer
	// may well be admitted, Fanfare just cannot say so now.
	ErrUnavailable = errors.New("fanfare: unavailable")
)

// APIError is an error response from the Fanfare API.
type APIError struct {
	// StatusCode is the HTTP status Fanfare answered with.
	StatusCode int
	// Code is Fanfare's error code (the body's "error" field), e.g.
	// "unauthorized", cut to 64 bytes. Code and Message are scrubbed: the
	// secret key, and anything shaped like one ("sk_...") or like a token
	// ("eyJ..."), becomes "[REDACTED]": Fanfare or a proxy may echo requests.
	Code string
	// Message is Fanfare's human-readable message, cut to 200 bytes.
	Message string
	// Op is the client operation: "authorize", "validate" or "complete".
	Op string
}

func (e *APIError) Error() string {
	s := "fanfare: " + e.Op + ": status " + strconv.Itoa(e.StatusCode)
	if e.Code != "" {
		s += " " + strconv.Quote(e.Code)
	}
	if e.Message != "" {
		s += ": " + strconv.Quote(e.Message)
	}
	return s
}

// Is maps the status and code onto the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnavailable:
		return e.temporary()
	}
	return false
}

func (e *APIError) temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode == http.StatusRequestTimeout
}

// unavailableError wraps a transport failure or a malformed response: it
// matches ErrUnavailable and the cause. Its text is the cause's, scrubbed:
// net/http quotes a proxy's garbage, which may echo our request headers.
type unavailableError struct {
	op  string
	msg string // err.Error(), scrubbed
	err error
}

func (e *unavailableError) Error() string {
	return "fanfare: " + e.op + ": unavailable: " + e.msg
}

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }
