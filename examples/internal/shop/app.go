// Package shop is the checkout app of the examples: the vendor guide's
// "Complete Integration Example" as a Go program, less its wiring:
// examples/checkout/main.go wires these pieces ([New]: the toy login, the
// order store, the checkout handler and the shop's admission policy) with the
// library on net/http and alice, and the gin, echo and chi examples wire the
// same pieces, with [Shop.Options], on their routers.
//
// The routes:
//
//	GET  /api/config              what the page needs to start the Fanfare SDK
//	POST /login                   TOY login: stands in for your own auth
//	POST /api/fanfare/authorize   an exchange code for the logged-in user (10/minute)
//	POST /api/validate-admission  the guide's validation endpoint
//	POST /api/checkout            the guide's checkout, admitted consumers only
//
// examples/checkout also serves the storefront page (GET /, package
// storefront), which walks the browser's side of the guide.
package shop

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	fanfare "github.com/waitify-io/fanfare-go"
)

// Config configures the shop.
type Config struct {
	// Client calls Fanfare. Required.
	Client *fanfare.Client
	// Fanfare is the config Client was built from: /api/config serves its
	// APIURL and OrganizationID to the page.
	Fanfare fanfare.Config
	// Distribution is the drop the shop sells: the only queue, draw or
	// auction whose admissions its checkout accepts. Required.
	Distribution fanfare.Distribution
	// PublishableKey is the browser's key, served in /api/config.
	// Default: "" (the page must get it elsewhere).
	PublishableKey string
	// Provider and Issuer name the shop to Fanfare in authorize calls.
	// Default: "fanfare-go-example" and "https://shop.example.com".
	Provider, Issuer string
	// Logger receives the library's and the shop's logs.
	// Default: slog.Default().
	Logger *slog.Logger
	// Clock is the time of sessions, rate limits and admission expiry.
	// Default: time.Now.
	Clock func() time.Time
	// Store keeps the admissions in use and used, and the completions owed
	// to Fanfare (AdmissionOptions.Store). Default: nil (RequireAdmission's
	// in-memory default).
	Store fanfare.Store
	// Completions delivers the Store's completions
	// (AdmissionOptions.Completions); whoever starts it closes it. Default:
	// nil (RequireAdmission's own on-demand worker).
	Completions *fanfare.CompletionWorker
	// Limiter counts the authorize requests (RateLimitOptions.Limiter).
	// Default: nil (an in-memory limiter of 10 a minute).
	Limiter fanfare.Limiter
}

var (
	// errNotOnSale refuses an admission to a distribution the shop does
	// not sell.
	errNotOnSale = errors.New("shop: this distribution is not on sale here")
	// errAlreadyBought refuses a consumer's second order in a drop.
	errAlreadyBought = errors.New("shop: this consumer already bought in this drop")
)

// Shop is the app's state and the options of its routes: what the
// net/http, gin, echo and chi wirings share, so that the four differ only in
// how their router mounts the same pieces.
type Shop struct {
	// Sessions is the toy login.
	Sessions *Sessions
	// Orders keeps the orders placed.
	Orders *Orders
	// Consumers ties users to the Fanfare consumers they buy as.
	Consumers *Consumers

	cfg Config
}

// New returns the shop for cfg. It fails if cfg has no client or an invalid
// distribution.
func New(cfg Config) (*Shop, error) {
	if cfg.Client == nil {
		return nil, errors.New("shop: Config.Client is required")
	}
	if err := cfg.Distribution.Validate(); err != nil {
		return nil, err
	}
	if cfg.Provider == "" {
		cfg.Provider = "fanfare-go-example"
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "https://shop.example.com"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Shop{
		Sessions:  NewSessions(cfg.Clock),
		Orders:    NewOrders(),
		Consumers: NewConsumers(),
		cfg:       cfg,
	}, nil
}

// Options are the library options of the shop's routes, whichever router
// mounts them.
type Options struct {
	// Claims configures the authorize route's SanitizeClaims.
	Claims fanfare.ClaimsOptions
	// RateLimit is the authorize route's RateLimitAuthorize: the guide's 10
	// per user per minute.
	RateLimit fanfare.RateLimitOptions
	// Authorize configures the authorize handler.
	Authorize fanfare.AuthorizeOptions
	// Validate configures the validate-admission handler.
	Validate fanfare.ValidateAdmissionOptions
	// Admission is the checkout route's RequireAdmission.
	Admission fanfare.AdmissionOptions
}

// Options returns the options of the shop's routes, as the gin, echo and
// chi examples mount them; examples/checkout/main.go spells out the same
// options on net/http.
func (s *Shop) Options() Options {
	cfg := s.cfg
	return Options{
		// Guide step 1: exchange codes for logged-in users only (the
		// handler answers 401 otherwise), claims sanitized, 10 per user per
		// minute.
		Claims:    fanfare.ClaimsOptions{Logger: cfg.Logger},
		RateLimit: fanfare.RateLimitOptions{Limiter: cfg.Limiter, Clock: cfg.Clock, Logger: cfg.Logger},
		Authorize: fanfare.AuthorizeOptions{
			Provider: cfg.Provider,
			Issuer:   cfg.Issuer,
			Logger:   cfg.Logger,
		},
		// Guide step 3: the validation endpoint, as the guide has it.
		Validate: fanfare.ValidateAdmissionOptions{Logger: cfg.Logger},
		// Guide step 4: checkout for logged-in users with an admission to
		// the drop that Fanfare confirms, bound to the user; completed
		// after a 2xx.
		Admission: fanfare.AdmissionOptions{
			Distribution: fanfare.DistributionFunc(s.DistributionOnSale),
			BindConsumer: s.BindConsumer,
			ErrorHandler: s.WriteAdmissionError,
			Store:        cfg.Store,
			Completions:  cfg.Completions,
			Clock:        cfg.Clock,
			Logger:       cfg.Logger,
		},
	}
}

// DistributionOnSale is the shop's AdmissionOptions.Distribution rule (as a
// [fanfare.DistributionFunc]): the guide's checkout body names the
// distribution (experienceType, distributionId), and this shop sells one
// drop and refuses every other.
func (s *Shop) DistributionOnSale(r *http.Request) (fanfare.Distribution, error) {
	d, err := fanfare.DistributionFromBody(r)
	if err == nil && d != s.cfg.Distribution {
		err = errNotOnSale
	}
	return d, err
}

// BindConsumer is the shop's AdmissionOptions.BindConsumer. It runs before
// Fanfare is asked, on the token's claims: it refuses an admission of a
// consumer tied to another user ([Checkout] makes the tie once Fanfare
// confirmed it), then a consumer who already bought in this drop: one order
// per consumer.
func (s *Shop) BindConsumer(r *http.Request, a *fanfare.Admission) error {
	user, _ := fanfare.IdentityFromContext(r.Context())
	if err := s.Consumers.Check(user.Subject, a.ConsumerID); err != nil {
		return err
	}
	if s.Orders.Bought(a.Distribution, a.ConsumerID) {
		return errAlreadyBought
	}
	return nil
}

// WriteAdmissionError is the shop's AdmissionOptions.ErrorHandler.
// RequireAdmission answers a used admission 409 ADMISSION_USED itself; a
// consumer who already bought and comes back with a fresh admission
// (entering the queue again) gets the same answer, since the shop's rule is
// one order per consumer per drop. Every other refusal is the library's.
func (s *Shop) WriteAdmissionError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errAlreadyBought) {
		err = &fanfare.AdmissionError{
			Status: http.StatusConflict, Code: "ADMISSION_USED",
			Reason: fanfare.ErrAdmissionUsed, Err: err,
		}
	}
	fanfare.WriteError(w, r, err)
}

// ConfigHandler answers GET /api/config.
func (s *Shop) ConfigHandler() http.Handler {
	return ConfigHandler(PublicConfig{
		OrganizationID:   s.cfg.Fanfare.OrganizationID,
		PublishableKey:   s.cfg.PublishableKey,
		APIURL:           s.cfg.Fanfare.APIURL,
		DistributionType: string(s.cfg.Distribution.Type),
		DistributionID:   s.cfg.Distribution.ID,
	})
}

// Checkout is the shop's checkout handler (see [Checkout]); mount it
// behind the login check and RequireAdmission(Options().Admission).
func (s *Shop) Checkout() http.Handler {
	return Checkout(s.Orders, s.Consumers, s.cfg.Clock, s.cfg.Logger)
}

// Config returns the shop's configuration, defaults filled in.
func (s *Shop) Config() Config { return s.cfg }

// Client is the shop's Fanfare client.
func (s *Shop) Client() *fanfare.Client { return s.cfg.Client }
