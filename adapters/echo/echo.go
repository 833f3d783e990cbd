// Package fanfareecho adapts fanfare's middleware and handlers to echo v5.
//
// It only translates: every decision is made by the root package, so a
// route behaves here exactly as with the net/http middleware — same checks,
// same answers, same completion rules.
//
//	e := echo.New()
//	e.Use(middleware.Recover(), yourAuth) // yourAuth: fanfareecho.SetIdentity(c, fanfare.Identity{Subject: user.ID})
//	e.POST("/api/fanfare/authorize",
//		fanfareecho.NewAuthorizeHandler(client, fanfare.AuthorizeOptions{Provider: "shop", Issuer: "https://shop.example"}),
//		fanfareecho.SanitizeClaims(fanfare.ClaimsOptions{}),
//		fanfareecho.RateLimitAuthorize(fanfare.RateLimitOptions{}))
//	e.POST("/queues/:queue/checkout", checkout, // a, _ := fanfareecho.Admission(c)
//		fanfareecho.RequireAdmission(client, fanfare.AdmissionOptions{
//			Distribution: fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"),
//		}))
//
// # Refusals are returned, the echo way
//
// A refused request is not written by the middleware: it returns an *[Error]
// to echo's HTTPErrorHandler. echo's DefaultHTTPErrorHandler writes it as the
// net/http middleware would — the same status and JSON body — and the
// answer's other headers (Retry-After, Cache-Control: no-store, the rate
// limit fields) are already on the response. A custom HTTPErrorHandler can
// render its own answer from the Error, whose cause, when there is one,
// matches fanfare's sentinel errors (errors.Is(err,
// fanfare.ErrAdmissionUsed)).
package fanfareecho

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v5"
	fanfare "github.com/waitify-io/fanfare-go"
)

// Error is a request refused by one of this package's middleware, with the
// answer the net/http middleware writes. It implements echo.HTTPStatusCoder
// and json.Marshaler, which echo's DefaultHTTPErrorHandler renders.
type Error struct {
	// Status is the HTTP status of the answer, e.g. 403 or 429.
	Status int
	// Body is the JSON body of the answer, as written by the middleware or
	// its configured error handler.
	Body []byte
	// Err is the cause, when the middleware reports one: an
	// *fanfare.AdmissionError for RequireAdmission; nil otherwise.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return "fanfare: request refused with status " + strconv.Itoa(e.Status)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// StatusCode implements echo.HTTPStatusCoder.
func (e *Error) StatusCode() int { return e.Status }

// MarshalJSON returns Body, or {"error":"<status text>"} when Body is not
// JSON (an error handler of yours wrote something else).
func (e *Error) MarshalJSON() ([]byte, error) {
	if json.Valid(e.Body) {
		return e.Body, nil
	}
	return json.Marshal(fanfare.ErrorBody{Error: http.StatusText(e.Status)})
}

// RequireAdmission is [fanfare.RequireAdmission] as echo middleware: a
// request goes on only with a valid admission, which the handlers read with
// [Admission]; a refused request returns an *[Error] (see the package doc).
//
// The admission is completed when the request's answer is 2xx and released
// for another try otherwise. The answer is what echo sends: the committed
// status when the handler wrote one, else the status of the error it
// returned (500 for an error without one), else 200 — as
// echo.ResolveResponseStatus says. A panic releases it too, unless a 2xx
// was already committed: then the admission is spent.
//
// The route's parameters are visible to AdmissionOptions' funcs as
// r.PathValue, so fanfare.DistributionFromPath works. It panics, with a message
// starting "fanfare: ", on the programming errors fanfare.RequireAdmission
// panics on.
func RequireAdmission(client *fanfare.Client, opts fanfare.AdmissionOptions) echo.MiddlewareFunc {
	begin := fanfare.NewAdmissionGuard(client, opts)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			w := newRecorder(c)
			r, finish, err := begin(w, withParams(c))
			c.SetRequest(r)
			if err != nil { // the answer is in w, for echo's error handler
				return w.refusal(err)
			}
			// A panic: a 2xx already committed spends the admission,
			// anything else releases it. A no-op after the finish below.
			defer func() {
				status := 0
				if resp, err := echo.UnwrapResponse(c.Response()); err == nil && resp.Committed {
					status = resp.Status
				}
				finish(status)
			}()
			err = next(c)
			_, status := echo.ResolveResponseStatus(c.Response(), err)
			finish(status)
			return err
		}
	}
}

// SanitizeClaims is [fanfare.SanitizeClaims] as echo middleware: the
// sanitized identity replaces the request's, and claims that cannot pass
// return an *[Error] with status 413 (or 500).
func SanitizeClaims(opts fanfare.ClaimsOptions) echo.MiddlewareFunc {
	return wrap(fanfare.SanitizeClaims(opts))
}

// RateLimitAuthorize is [fanfare.RateLimitAuthorize] as echo middleware:
// the rate limit headers are set on every decided request, and a request
// over the limit returns an *[Error] with status 429 (Retry-After is already
// on the response). Put it after your auth middleware, so users are counted
// one by one. It panics on what fanfare.RateLimitAuthorize panics on.
func RateLimitAuthorize(opts fanfare.RateLimitOptions) echo.MiddlewareFunc {
	return wrap(fanfare.RateLimitAuthorize(opts))
}

// NewAuthorizeHandler is [fanfare.NewAuthorizeHandler] as an echo handler.
// It writes its answers itself (AuthorizeOptions.ErrorHandler) and returns
// nil. Put the logged-in user into the request first, e.g. with
// [SetIdentity]. It panics on what fanfare.NewAuthorizeHandler panics on.
func NewAuthorizeHandler(client *fanfare.Client, opts fanfare.AuthorizeOptions) echo.HandlerFunc {
	return echo.WrapHandler(fanfare.NewAuthorizeHandler(client, opts))
}

// NewValidateAdmissionHandler is [fanfare.NewValidateAdmissionHandler] as
// an echo handler. It writes its answers itself and returns nil. It panics
// when client is nil.
func NewValidateAdmissionHandler(client *fanfare.Client, opts fanfare.ValidateAdmissionOptions) echo.HandlerFunc {
	return echo.WrapHandler(fanfare.NewValidateAdmissionHandler(client, opts))
}

// Admission returns the admission [RequireAdmission] let through. It never
// panics; false means the route has no RequireAdmission.
func Admission(c *echo.Context) (*fanfare.Admission, bool) {
	return fanfare.AdmissionFromContext(c.Request().Context())
}

// SetIdentity puts the logged-in user of your own auth into the request, for
// the authorize handler and the rate limiter: call it from your auth
// middleware.
func SetIdentity(c *echo.Context, id fanfare.Identity) {
	c.SetRequest(c.Request().WithContext(fanfare.WithIdentity(c.Request().Context(), id)))
}

// withParams shows the route's parameters to net/http code as r.PathValue,
// as echo.WrapHandler does.
func withParams(c *echo.Context) *http.Request {
	r := c.Request()
	for _, p := range c.PathValues() {
		r.SetPathValue(p.Name, p.Value)
	}
	return r
}

// wrap runs a net/http middleware that acts before its handler and either
// calls it, passing its ResponseWriter on, or answers itself: the request it
// passes on replaces the context's and the chain goes on inside it; the
// answer it writes instead is returned as an *Error.
func wrap(mw func(http.Handler) http.Handler) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			passed := false
			var err error
			w := newRecorder(c)
			mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				passed = true
				c.SetRequest(r)
				err = next(c)
			})).ServeHTTP(w, withParams(c))
			if passed {
				return err
			}
			return w.refusal(nil)
		}
	}
}

// recorder is the ResponseWriter a net/http middleware gets. Headers go to
// the echo response at once (a middleware that lets the request through
// may set some, e.g. the rate limit fields); the status and body of a
// refusal are kept for the *Error, and echo's error handler writes them.
type recorder struct {
	header    http.Header
	hadType   bool
	savedType []string
	status    int
	body      bytes.Buffer
}

func newRecorder(c *echo.Context) *recorder {
	h := c.Response().Header()
	ct, had := h["Content-Type"]
	return &recorder{header: h, hadType: had, savedType: ct}
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// refusal returns the recorded answer as an *Error. The Content-Type goes
// back to what it was: echo's error handler sets the one of what it writes
// (and never replaces one already set).
func (w *recorder) refusal(cause error) *Error {
	if w.hadType {
		w.header["Content-Type"] = w.savedType
	} else {
		delete(w.header, "Content-Type")
	}
	status := w.status
	if status == 0 { // answered nothing, yet refused: fail closed
		status = http.StatusInternalServerError
	}
	return &Error{Status: status, Body: w.body.Bytes(), Err: cause}
}
