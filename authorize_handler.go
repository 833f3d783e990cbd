package fanfare

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// ErrNoIdentity: the request carries no logged-in user (no Identity in the
// context, an empty Subject, or an AuthorizeOptions.Identity func that
// failed, whose error is wrapped too). Answered 401.
var ErrNoIdentity = errors.New("fanfare: no identity")

// maxIgnoredBodyBytes caps the request body the authorize handler drops.
const maxIgnoredBodyBytes = 4 << 10

// AuthorizeOptions configures [NewAuthorizeHandler].
type AuthorizeOptions struct {
	// Provider identifies your platform to Fanfare, e.g. "your-platform".
	// Required.
	Provider string

	// Issuer is your domain, e.g. "https://your-domain.com". Required.
	Issuer string

	// Identity returns the logged-in user of the request. An error or an
	// empty Subject is answered 401; the error is logged and passed to
	// ErrorHandler wrapped with ErrNoIdentity. Default: the Identity your
	// auth middleware stored with WithIdentity.
	Identity func(*http.Request) (Identity, error)

	// Claims is the policy the claims (Email and Name as "email" and
	// "name", then Identity.Claims) pass before they are sent, even behind
	// SanitizeClaims: defense in depth. Default: the zero ClaimsPolicy (the
	// guide's size limit and deny list).
	Claims ClaimsPolicy

	// Logger receives the cause of every failure but a missing identity or
	// a wrong method; its lines never carry the secret key, claim values or
	// Fanfare's raw response body. Default: slog.Default().
	Logger *slog.Logger

	// ErrorHandler writes the response of every failed request but a wrong
	// method (405), after the cause is logged. err matches ErrNoIdentity,
	// ErrClaimsTooLarge, ErrInvalidClaims or ErrUnavailable, or is an
	// *APIError; WriteError lists the answers. Never write err itself into
	// the response. Default: WriteError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// NewAuthorizeHandler returns the endpoint that gives the logged-in user an
// exchange code for the browser SDK (the vendor guide's step 1), e.g. POST
// /api/fanfare/authorize, behind your auth middleware (which stores the user
// with [WithIdentity]), [SanitizeClaims] and [RateLimitAuthorize]: see the
// README's "The authorize endpoint". It answers a POST with 200
// {"exchangeCode": "...", "expiresAt": "<RFC 3339>"}. It panics when client
// is nil or opts.Provider or opts.Issuer is empty.
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
		opts.ErrorHandler = WriteError
	}
	return &authorizeHandler{client: client, o: opts, claims: opts.Claims.compile()}
}

type authorizeHandler struct {
	client *Client
	o      AuthorizeOptions
	claims claimsSanitizer
}

func (h *authorizeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !postOnly(w, r) {
		return
	}
	_, _ = readBody(w, r, maxIgnoredBodyBytes) // so the connection can be reused
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
	writeJSON(w, http.StatusOK, code)
}
