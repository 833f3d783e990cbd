// Package fanfaregin adapts fanfare's middleware and handlers to gin.
//
// It only translates: every decision is made by the root package, so a
// route behaves here exactly as with the net/http middleware — same checks,
// same answers, same completion rules.
//
//	r := gin.New()
//	r.Use(gin.Recovery(), yourAuth) // yourAuth: fanfaregin.SetIdentity(c, fanfare.Identity{Subject: user.ID})
//	r.POST("/api/fanfare/authorize",
//		fanfaregin.SanitizeClaims(fanfare.ClaimsOptions{}),
//		fanfaregin.RateLimitAuthorize(fanfare.RateLimitOptions{}),
//		fanfaregin.NewAuthorizeHandler(client, fanfare.AuthorizeOptions{Provider: "shop", Issuer: "https://shop.example"}))
//	r.POST("/queues/:queue/checkout",
//		fanfaregin.RequireAdmission(client, fanfare.AdmissionOptions{
//			Distribution: fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"),
//		}),
//		checkout) // a, _ := fanfaregin.Admission(c)
//
// Refusals are written with the library's JSON bodies and the chain is
// aborted (c.Abort), as gin middleware do.
package fanfaregin

import (
	"net/http"

	"github.com/gin-gonic/gin"
	fanfare "github.com/waitify-io/fanfare-go"
)

// RequireAdmission is [fanfare.RequireAdmission] as gin middleware: a
// request goes on (c.Next) only with a valid admission, which the handlers
// read with [Admission]. A refused request is answered by
// AdmissionOptions.ErrorHandler (Default: fanfare.WriteError)
// and the chain is aborted.
//
// The admission is completed when the chain's answer is 2xx — the status of
// c.Writer after c.Next — and released for another try otherwise: on a
// non-2xx status, on a panic before any answer, and when a handler reported an error with
// c.Error without writing a response (gin answers such a request only in an
// error-rendering middleware; until then it has not succeeded).
//
// The route's parameters are visible to AdmissionOptions' funcs as
// r.PathValue, so fanfare.DistributionFromPath works. It panics, with a message
// starting "fanfare: ", on the programming errors fanfare.RequireAdmission
// panics on.
func RequireAdmission(client *fanfare.Client, opts fanfare.AdmissionOptions) gin.HandlerFunc {
	begin := fanfare.NewAdmissionGuard(client, opts)
	return func(c *gin.Context) {
		r, finish, err := begin(c.Writer, withParams(c))
		c.Request = r
		if err != nil { // refused and answered
			c.Abort()
			return
		}
		// A panic: a 2xx already written spends the admission, anything
		// else releases it. A no-op after the finish below.
		defer func() { finish(written(c)) }()
		c.Next()
		finish(status(c))
	}
}

// written is the status already sent, 0 when nothing was.
func written(c *gin.Context) int {
	if !c.Writer.Written() {
		return 0
	}
	return c.Writer.Status()
}

// status is the answer the chain gave, or will give.
func status(c *gin.Context) int {
	s := c.Writer.Status()
	if !c.Writer.Written() && len(c.Errors) > 0 && s < http.StatusMultipleChoices {
		return http.StatusInternalServerError
	}
	return s
}

// SanitizeClaims is [fanfare.SanitizeClaims] as gin middleware: the
// sanitized identity replaces the request's (c.Request), and claims that
// cannot pass abort the chain with 413 (or 500).
func SanitizeClaims(opts fanfare.ClaimsOptions) gin.HandlerFunc {
	return wrap(fanfare.SanitizeClaims(opts))
}

// RateLimitAuthorize is [fanfare.RateLimitAuthorize] as gin middleware: the
// rate limit headers are set on every decided request, and a request over
// the limit is answered 429 with Retry-After and aborted. Put it after your
// auth middleware, so users are counted one by one. It panics on what
// fanfare.RateLimitAuthorize panics on.
func RateLimitAuthorize(opts fanfare.RateLimitOptions) gin.HandlerFunc {
	return wrap(fanfare.RateLimitAuthorize(opts))
}

// NewAuthorizeHandler is [fanfare.NewAuthorizeHandler] as a gin handler. Put
// the logged-in user into the request first, e.g. with [SetIdentity]. It
// panics on what fanfare.NewAuthorizeHandler panics on.
func NewAuthorizeHandler(client *fanfare.Client, opts fanfare.AuthorizeOptions) gin.HandlerFunc {
	return gin.WrapH(fanfare.NewAuthorizeHandler(client, opts))
}

// NewValidateAdmissionHandler is [fanfare.NewValidateAdmissionHandler] as a
// gin handler. It panics when client is nil.
func NewValidateAdmissionHandler(client *fanfare.Client, opts fanfare.ValidateAdmissionOptions) gin.HandlerFunc {
	return gin.WrapH(fanfare.NewValidateAdmissionHandler(client, opts))
}

// Admission returns the admission [RequireAdmission] let through. It never
// panics; false means the route has no RequireAdmission.
func Admission(c *gin.Context) (*fanfare.Admission, bool) {
	return fanfare.AdmissionFromContext(c.Request.Context())
}

// SetIdentity puts the logged-in user of your own auth into the request, for
// the authorize handler and the rate limiter: call it from your auth
// middleware.
func SetIdentity(c *gin.Context, id fanfare.Identity) {
	c.Request = c.Request.WithContext(fanfare.WithIdentity(c.Request.Context(), id))
}

// withParams shows the route's parameters to net/http code as r.PathValue,
// as gin.WrapH does not (and echo.WrapHandler does).
func withParams(c *gin.Context) *http.Request {
	for _, p := range c.Params {
		c.Request.SetPathValue(p.Key, p.Value)
	}
	return c.Request
}

// wrap runs a net/http middleware that acts before its handler and either
// calls it, passing its ResponseWriter on, or answers itself: the request it
// passes on replaces c.Request and the chain goes on inside it; a request it
// answered is aborted.
func wrap(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		passed := false
		mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			passed = true
			c.Request = r
			c.Next()
		})).ServeHTTP(c.Writer, withParams(c))
		if !passed {
			c.Abort()
		}
	}
}
