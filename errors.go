package fanfare

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// Sentinel errors, for use with [errors.Is]. Errors returned by [Client]
// methods match at most one of ErrUnauthorized, ErrExchangeCodeExpired,
// ErrInvalidExchangeCode, ErrConsumerConflict, ErrNotFound and ErrUnavailable.
var (
	// ErrInvalidConfig reports a Config that NewClient refuses.
	ErrInvalidConfig = errors.New("fanfare: invalid config")
	// ErrUnauthorized: Fanfare refused the organization id or secret key.
	ErrUnauthorized = errors.New("fanfare: credentials refused")
	// ErrExchangeCodeExpired: the exchange code outlived its 60 seconds.
	ErrExchangeCodeExpired = errors.New("fanfare: " + wire.CodeExchangeCodeExpired)
	// ErrInvalidExchangeCode: the exchange code was already used or never existed.
	ErrInvalidExchangeCode = errors.New("fanfare: " + wire.CodeInvalidExchangeCode)
	// ErrConsumerConflict: the external identity is linked to another consumer.
	ErrConsumerConflict = errors.New("fanfare: " + wire.CodeConsumerConflict)
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
	// "exchange_code_expired". Empty when the body carried none.
	Code string
	// Message is Fanfare's human-readable message, if any, cut to 200 bytes.
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
	case ErrExchangeCodeExpired:
		return e.Code == wire.CodeExchangeCodeExpired
	case ErrInvalidExchangeCode:
		return e.Code == wire.CodeInvalidExchangeCode
	case ErrConsumerConflict:
		return e.Code == wire.CodeConsumerConflict
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnavailable:
		return e.temporary()
	}
	return false
}

// temporary reports whether the status says "try again later".
func (e *APIError) temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode == http.StatusRequestTimeout
}

// unavailableError wraps a transport failure or a malformed response. It
// matches ErrUnavailable and unwraps to the cause (a *url.Error, a
// context error, a JSON error).
type unavailableError struct {
	op  string
	err error
}

func (e *unavailableError) Error() string {
	return "fanfare: " + e.op + ": unavailable: " + e.err.Error()
}

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }
