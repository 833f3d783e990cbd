package fanfare

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// ErrNoIdentity: the request carries no logged-in user (no Identity in the
// context, an empty Subject, or an AuthorizeOptions.Identity func that
// failed, whose error is wrapped too). Answered 401.
var ErrNoIdentity = errors.New("fanfare: no identity")

// maxIgnoredBodyBytes caps the request body the authorize handler reads and
// throws away. It needs none; a larger body closes the connection.
const maxIgnoredBodyBytes = 4 << 10

// AuthorizeOptions configures [NewAuthorizeHandler].
type AuthorizeOptions struct {
	// Provider identifies your platform to Fanfare, e.g. "your-platform".
	// Required.
	Provider string

	// Issuer is your domain, e.g. "https://your-domain.com". Required.
	Issuer string

	// Identity returns the logged-in user of the request, as your own auth
	// established it. An error or an empty Subject is answered 401; the
	// error is logged and passed to ErrorHandler wrapped with ErrNoIdentity.
	// Default: the Identity your auth middleware stored with WithIdentity
	// (see IdentityFromContext).
	Identity func(*http.Request) (Identity, error)

	// Claims is the policy the claims pass before they are sent: Email and
	// Name as "email" and "name", then Identity.Claims. It is applied even
	// behind SanitizeClaims, as defense in depth. Default: the zero
	// ClaimsPolicy (the guide's size limit and deny list).
	Claims ClaimsPolicy

	// Logger receives the cause of every failure but a missing identity or
	// a wrong method; its lines never carry the secret key, claim values or
	// Fanfare's raw response body. Default: slog.Default().
	Logger *slog.Logger

	// ErrorHandler writes the response of every failed request but a wrong
	// method (the handler answers that 405 itself), after the cause is
	// logged. err matches (with errors.Is) one of:
	//   - ErrNoIdentity: 401 {"error":"Unauthorized"};
	//   - ErrClaimsTooLarge: 413 {"error":"Claims too large"};
	//   - ErrInvalidClaims: 500 {"error":"Internal server error"};
	//   - ErrUnavailable: Fanfare unreachable, timed out or answering 5xx or
	//     garbage: 503 {"error":"Authentication failed"} with Retry-After;
	//   - anything else is Fanfare's refusal, usually an *APIError (e.g.
	//     ErrUnauthorized: the secret key was refused): 502
	//     {"error":"Authentication failed"}.
	// Never write err itself into the response. Default: WriteAuthorizeError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// NewAuthorizeHandler returns the endpoint that gives the logged-in user an
// exchange code for the browser SDK (the vendor guide's step 1). Mount it at
// the path the SDK calls, e.g. POST /api/fanfare/authorize, behind your own
// auth middleware (which stores the user with [WithIdentity]), and
// preferably behind [SanitizeClaims] and [RateLimitAuthorize]: the README's
// "The authorize endpoint" shows the chain and every answer.
//
// It answers POST only and reads no body (up to 4 KiB is read and dropped).
// It sanitizes the identity's claims with opts.Claims, asks Fanfare for a
// code with the request's context and answers 200 {"exchangeCode": "...",
// "expiresAt": "<RFC 3339>"}; failures are answered as
// AuthorizeOptions.ErrorHandler lists, never showing the cause.
//
// NewAuthorizeHandler panics, with a message starting "fanfare: ", when
// client is nil or opts.Provider or opts.Issuer is empty.
func NewAuthorizeHandler(client *Client, opts AuthorizeOptions) http.Handler {
	switch {
	case client == nil:
		panic("fanfare: NewAuthorizeHandler needs a non-nil *Client")
	case opts.Provider == "":
		panic("fanfare: AuthorizeOptions.Provider is required")
	case opts.Issuer == "":
		panic("fanfare: AuthorizeOptions.Issuer is required")
	}
	if opts.Identity == nil {
		opts.Identity = func(r *http.Request) (Identity, error) {
			id, _ := IdentityFromContext(r.Context())
			return id, nil // no identity has an empty Subject: ErrNoIdentity
		}
	}
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	if opts.ErrorHandler == nil {
		opts.ErrorHandler = WriteAuthorizeError
	}
	return &authorizeHandler{client: client, o: opts, claims: opts.Claims.compile()}
}

type authorizeHandler struct {
	client *Client
	o      AuthorizeOptions // defaults filled in
	claims claimsSanitizer
}

func (h *authorizeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !postOnly(w, r) {
		return
	}
	_, _ = readBody(w, r, maxIgnoredBodyBytes) // unused, read so the connection can be reused
	id, err := h.o.Identity(r)
	if err == nil && id.Subject == "" {
		err = ErrNoIdentity
	}
	if err != nil {
		if !errors.Is(err, ErrNoIdentity) {
			h.o.Logger.LogAttrs(r.Context(), slog.LevelWarn, "fanfare: authorize: identity lookup failed",
				slog.String("path", r.URL.Path), slog.Any("error", err))
			err = fmt.Errorf("%w: %w", ErrNoIdentity, err)
		}
		h.o.ErrorHandler(w, r, err)
		return
	}

	_, claims, err := h.claims.identityClaims(id)
	if err != nil {
		logClaimsError(h.o.Logger, r, "fanfare: authorize: claims refused", err)
		h.o.ErrorHandler(w, r, err)
		return
	}

	code, err := h.client.Authorize(r.Context(), AuthorizeRequest{
		Provider: h.o.Provider, Issuer: h.o.Issuer, Subject: id.Subject, Claims: claims,
	})
	if err != nil {
		logUpstream(h.o.Logger, r, "fanfare: authorize failed", err)
		h.o.ErrorHandler(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.AuthorizeResponse{
		ExchangeCode: code.Code,
		ExpiresAt:    code.ExpiresAt.Format(time.RFC3339Nano),
	})
}

// WriteAuthorizeError writes the default answer of the authorize chain —
// [RateLimitAuthorize], [SanitizeClaims] and [NewAuthorizeHandler] — to err:
//
//   - ErrRateLimited: 429 {"error":"Too many auth requests"} (Retry-After
//     is already set);
//   - a limiter that could not decide: 503 {"error":"Service unavailable"};
//   - ErrNoIdentity: 401 {"error":"Unauthorized"};
//   - ErrClaimsTooLarge: 413 {"error":"Claims too large"};
//   - ErrInvalidClaims: 500 {"error":"Internal server error"};
//   - ErrUnavailable: 503 {"error":"Authentication failed"};
//   - anything else (Fanfare refused the call): 502 {"error":"Authentication failed"}.
//
// A custom ErrorHandler can call it for the errors it does not render itself.
func WriteAuthorizeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, ErrRateLimited):
		writeJSONBytes(w, http.StatusTooManyRequests, bodyTooManyAuthRequests)
		return
	case errors.Is(err, errNoDecision):
		writeJSONBytes(w, http.StatusServiceUnavailable, bodyServiceUnavailable)
		return
	case errors.Is(err, ErrNoIdentity):
		status = http.StatusUnauthorized
	case errors.Is(err, ErrClaimsTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalidClaims):
		status = http.StatusInternalServerError
	case errors.Is(err, ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, errorBodyFor(status))
}

// Response bodies of the authorize chain, encoded once.
var (
	bodyTooManyAuthRequests = mustJSON(ErrorBody{Error: "Too many auth requests"})
	bodyServiceUnavailable  = mustJSON(ErrorBody{Error: "Service unavailable"})
	bodyMethodNotAllowed    = mustJSON(ErrorBody{Error: "Method not allowed"})
	bodyUnauthorized        = mustJSON(ErrorBody{Error: "Unauthorized"})
	bodyClaimsTooLarge      = mustJSON(ErrorBody{Error: "Claims too large"})
	bodyInternalError       = mustJSON(ErrorBody{Error: "Internal server error"})
	bodyAuthFailed          = mustJSON(ErrorBody{Error: "Authentication failed"})
)

func errorBodyFor(status int) []byte {
	switch status {
	case http.StatusUnauthorized:
		return bodyUnauthorized
	case http.StatusRequestEntityTooLarge:
		return bodyClaimsTooLarge
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return bodyAuthFailed
	}
	return bodyInternalError
}
