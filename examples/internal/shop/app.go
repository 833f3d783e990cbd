// Package shop is the checkout app of the examples: the vendor guide's
// "Complete Integration Example" as a Go program. NewApp wires it on
// net/http and alice; the gin, echo and chi examples wire the same pieces
// ([New]: the toy login, the order store, the checkout handler and the
// library's options) on their routers.
//
// The routes:
//
//	GET  /api/config              what the page needs to start the Fanfare SDK
//	POST /login                   TOY login: stands in for your own auth
//	POST /api/fanfare/authorize   an exchange code for the logged-in user (10/minute)
//	POST /api/validate-admission  the guide's validation endpoint
//	POST /api/checkout            the guide's checkout, admitted consumers only
package shop

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/justinas/alice"
	fanfare "github.com/waitify-io/fanfare-go"
)

// Config configures the shop.
type Config struct {
	// Client calls Fanfare. Required.
	Client *fanfare.Client
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

// Options returns the options of the shop's routes.
func (s *Shop) Options() Options {
	cfg := s.cfg
	return Options{
		// Guide step 1: exchange codes for logged-in users only (the
		// handler answers 401 otherwise), claims sanitized, 10 per user per
		// minute.
		Claims:    fanfare.ClaimsOptions{Logger: cfg.Logger},
		RateLimit: fanfare.RateLimitOptions{Clock: cfg.Clock, Logger: cfg.Logger},
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
			// The guide's body names the distribution (experienceType,
			// distributionId); this shop sells one drop and refuses others.
			Distribution: fanfare.DistributionFunc(func(r *http.Request) (fanfare.Distribution, error) {
				d, err := fanfare.DistributionFromCheckoutBody(r)
				if err == nil && d != cfg.Distribution {
					err = errNotOnSale
				}
				return d, err
			}),
			// Runs before Fanfare is asked, on the token's claims. Refuse
			// an admission of a consumer tied to another user (Checkout
			// makes the tie once Fanfare confirmed it), then a consumer
			// who already bought in this drop: one order per consumer.
			BindConsumer: func(r *http.Request, a *fanfare.Admission) error {
				user, _ := fanfare.IdentityFromContext(r.Context())
				if err := s.Consumers.Check(user.Subject, a.ConsumerID); err != nil {
					return err
				}
				if s.Orders.Bought(a.Distribution, a.ConsumerID) {
					return errAlreadyBought
				}
				return nil
			},
			// RequireAdmission answers a used admission 409 ADMISSION_USED
			// itself. A consumer who already bought and comes back with a
			// fresh admission (entering the queue again) gets the same
			// answer: the shop's rule is one order per consumer per drop.
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if errors.Is(err, errAlreadyBought) {
					err = &fanfare.AdmissionError{
						Status: http.StatusConflict, Code: fanfare.CodeAdmissionUsed,
						Reason: fanfare.ErrAdmissionUsed, Err: err,
					}
				}
				fanfare.WriteAdmissionError(w, r, err)
			},
			Clock:  cfg.Clock,
			Logger: cfg.Logger,
		},
	}
}

// ConfigHandler answers GET /api/config.
func (s *Shop) ConfigHandler() http.Handler {
	return ConfigHandler(PublicConfig{
		OrganizationID:   s.cfg.Client.OrganizationID(),
		PublishableKey:   s.cfg.PublishableKey,
		APIURL:           s.cfg.Client.APIURL(),
		DistributionType: string(s.cfg.Distribution.Type),
		DistributionID:   s.cfg.Distribution.ID,
	})
}

// Checkout is the shop's checkout handler (see [Checkout]); mount it
// behind the login check and RequireAdmission(Options().Admission).
func (s *Shop) Checkout() http.Handler {
	return Checkout(s.Orders, s.Consumers, s.cfg.Clock, s.cfg.Logger)
}

// Client is the shop's Fanfare client.
func (s *Shop) Client() *fanfare.Client { return s.cfg.Client }

// NewApp returns the shop's HTTP handler on net/http and alice. It fails if
// cfg has no client or an invalid distribution.
func NewApp(cfg Config) (http.Handler, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	o := s.Options()

	// Your own auth comes first on every route: here the toy login's
	// session cookie becomes a fanfare.Identity in the request context.
	authed := alice.New(s.Sessions.Authenticate)

	authorize := authed.Append(
		fanfare.SanitizeClaims(o.Claims),
		fanfare.RateLimitAuthorize(o.RateLimit),
	).Then(fanfare.NewAuthorizeHandler(s.Client(), o.Authorize))

	checkout := authed.Append(
		RequireLogin,
		fanfare.RequireAdmission(s.Client(), o.Admission),
	).Then(s.Checkout())

	mux := http.NewServeMux()
	mux.Handle("GET /api/config", s.ConfigHandler())
	mux.HandleFunc("POST /login", s.Sessions.Login)
	mux.Handle("POST /api/fanfare/authorize", authorize)
	mux.Handle("POST /api/validate-admission", fanfare.NewValidateAdmissionHandler(s.Client(), o.Validate))
	mux.Handle("POST /api/checkout", checkout)
	return mux, nil
}
