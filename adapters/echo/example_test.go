package fanfareecho_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	fanfare "github.com/waitify-io/fanfare-go"
	fanfareecho "github.com/waitify-io/fanfare-go/adapters/echo"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

func post(h http.Handler, path, token string) {
	req := httptest.NewRequest(http.MethodPost, path, nil)
	if token != "" {
		req.Header.Set("Fanfare-Admission", token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
}

// A checkout route for many queues, the queue named by the route. Refusals
// reach echo's error handler, which writes the library's answers.
func ExampleRequireAdmission() {
	srv := fanfaretest.NewServer(fanfaretest.Options{}) // stands in for api.fanfare.io
	defer srv.Close()

	e := echo.New()
	e.POST("/queues/:queue/checkout",
		func(c *echo.Context) error {
			a, _ := fanfareecho.Admission(c)
			return c.String(http.StatusOK, "order placed for "+a.ConsumerID+" in "+a.Distribution.String())
		},
		fanfareecho.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
			Distribution: fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"),
		}))

	token := srv.Admit(fanfare.Queue("q_red"), "cons_1")
	post(e, "/queues/q_blue/checkout", token)
	post(e, "/queues/q_red/checkout", token)
	post(e, "/queues/q_red/checkout", "")
	// Output:
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_MISMATCH"}
	// 200 order placed for cons_1 in queue:q_red
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_REQUIRED"}
}

// Refusals are errors: an HTTPErrorHandler of your own sees why.
func ExampleError() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	e := echo.New()
	e.HTTPErrorHandler = func(c *echo.Context, err error) {
		var fe *fanfareecho.Error
		switch {
		case errors.Is(err, fanfare.ErrAdmissionRequired):
			_ = c.String(http.StatusForbidden, "join the queue first")
		case errors.As(err, &fe):
			_ = c.JSONBlob(fe.Status, fe.Body)
		default:
			echo.DefaultHTTPErrorHandler(false)(c, err)
		}
	}
	e.POST("/checkout", func(c *echo.Context) error { return c.NoContent(http.StatusOK) },
		fanfareecho.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{Distribution: fanfare.Queue("q_1")}))

	post(e, "/checkout", "")
	post(e, "/checkout", "garbage")
	// Output:
	// 403 join the queue first
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_INVALID"}
}

// The authorize endpoint behind your auth and the claims policy.
func ExampleNewAuthorizeHandler() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	yourAuth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if user := c.Request().Header.Get("X-User"); user != "" { // your session lookup
				fanfareecho.SetIdentity(c, fanfare.Identity{Subject: user, Claims: map[string]any{"password": "hunter2"}})
			}
			return next(c)
		}
	}
	e := echo.New()
	e.POST("/api/fanfare/authorize",
		fanfareecho.NewAuthorizeHandler(srv.Client(), fanfare.AuthorizeOptions{
			Provider: "your-platform",
			Issuer:   "https://your-domain.com",
		}),
		yourAuth,
		fanfareecho.SanitizeClaims(fanfare.ClaimsOptions{}))

	post(e, "/api/fanfare/authorize", "")
	req := httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil)
	req.Header.Set("X-User", "user_1")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.Contains(rec.Body.String(), `"exchangeCode"`), srv.Authorizations()[0].Claims)
	// Output:
	// 401 {"error":"Unauthorized"}
	// 200 true map[]
}

// The guide's validation endpoint.
func ExampleNewValidateAdmissionHandler() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	e := echo.New()
	e.POST("/api/validate-admission", fanfareecho.NewValidateAdmissionHandler(srv.Client(), fanfare.ValidateAdmissionOptions{}))

	token := srv.Admit(fanfare.Queue("q_1"), "cons_1")
	for _, body := range []string{
		`{"queueId":"q_1","consumerId":"cons_1","token":"` + token + `"}`,
		`{"consumerId":"cons_1","token":"` + token + `"}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/validate-admission", strings.NewReader(body))
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 {"valid":true}
	// 400 {"error":"queueId or drawId required"}
}

// The guide's limit on the authorize endpoint, here 2 a minute per user. The
// refusal reaches echo's error handler with its headers already set.
func ExampleRateLimitAuthorize() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	yourAuth := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			fanfareecho.SetIdentity(c, fanfare.Identity{Subject: "user_1"})
			return next(c)
		}
	}
	e := echo.New()
	e.POST("/api/fanfare/authorize",
		fanfareecho.NewAuthorizeHandler(srv.Client(), fanfare.AuthorizeOptions{Provider: "your-platform", Issuer: "https://your-domain.com"}),
		yourAuth,
		fanfareecho.RateLimitAuthorize(fanfare.RateLimitOptions{Limit: fanfare.Limit{Requests: 2, Window: time.Minute}}))

	for range 3 {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil))
		fmt.Printf("%d RateLimit: %s Retry-After: %q\n", rec.Code, rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	post(e, "/api/fanfare/authorize", "")
	// Output:
	// 200 RateLimit: "default";r=1;t=60 Retry-After: ""
	// 200 RateLimit: "default";r=0;t=60 Retry-After: ""
	// 429 RateLimit: "default";r=0;t=60 Retry-After: "60"
	// 429 {"error":"Too many auth requests"}
}
