package fanfaregin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	fanfare "github.com/waitify-io/fanfare-go"
	fanfaregin "github.com/waitify-io/fanfare-go/adapters/gin"
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

// A checkout route for many queues, the queue named by the route.
func ExampleRequireAdmission() {
	gin.SetMode(gin.ReleaseMode)
	srv := fanfaretest.NewServer(fanfaretest.Options{}) // stands in for api.fanfare.io
	defer srv.Close()

	r := gin.New()
	r.POST("/queues/:queue/checkout",
		fanfaregin.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
			Distribution: fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"),
		}),
		func(c *gin.Context) {
			a, _ := fanfaregin.Admission(c)
			c.String(http.StatusOK, "order placed for %s in %s", a.ConsumerID, a.Distribution)
		})

	token := srv.Admit(fanfare.Queue("q_red"), "cons_1")
	post(r, "/queues/q_blue/checkout", token)
	post(r, "/queues/q_red/checkout", token)
	post(r, "/queues/q_red/checkout", "")
	// Output:
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_MISMATCH"}
	// 200 order placed for cons_1 in queue:q_red
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_REQUIRED"}
}

// The authorize endpoint behind your auth and the claims policy.
func ExampleNewAuthorizeHandler() {
	gin.SetMode(gin.ReleaseMode)
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	yourAuth := func(c *gin.Context) {
		if user := c.GetHeader("X-User"); user != "" { // your session lookup
			fanfaregin.SetIdentity(c, fanfare.Identity{Subject: user, Claims: map[string]any{"password": "hunter2"}})
		}
	}
	r := gin.New()
	r.POST("/api/fanfare/authorize",
		yourAuth,
		fanfaregin.SanitizeClaims(fanfare.ClaimsOptions{}),
		fanfaregin.NewAuthorizeHandler(srv.Client(), fanfare.AuthorizeOptions{
			Provider: "your-platform",
			Issuer:   "https://your-domain.com",
		}))

	post(r, "/api/fanfare/authorize", "")
	req := httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil)
	req.Header.Set("X-User", "user_1")
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.Contains(rec.Body.String(), `"exchangeCode"`), srv.Authorizations()[0].Claims)
	// Output:
	// 401 {"error":"Unauthorized"}
	// 200 true map[]
}

// The guide's validation endpoint.
func ExampleNewValidateAdmissionHandler() {
	gin.SetMode(gin.ReleaseMode)
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	r := gin.New()
	r.POST("/api/validate-admission", fanfaregin.NewValidateAdmissionHandler(srv.Client(), fanfare.ValidateAdmissionOptions{}))

	token := srv.Admit(fanfare.Queue("q_1"), "cons_1")
	for _, body := range []string{
		`{"queueId":"q_1","consumerId":"cons_1","token":"` + token + `"}`,
		`{"consumerId":"cons_1","token":"` + token + `"}`,
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/validate-admission", strings.NewReader(body))
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 200 {"valid":true}
	// 400 {"error":"queueId or drawId required"}
}

// The guide's limit on the authorize endpoint, here 2 a minute per user.
func ExampleRateLimitAuthorize() {
	gin.SetMode(gin.ReleaseMode)
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	r := gin.New()
	r.POST("/api/fanfare/authorize",
		func(c *gin.Context) { fanfaregin.SetIdentity(c, fanfare.Identity{Subject: "user_1"}) }, // your auth
		fanfaregin.RateLimitAuthorize(fanfare.RateLimitOptions{Limit: fanfare.Limit{Requests: 2, Window: time.Minute}}),
		fanfaregin.NewAuthorizeHandler(srv.Client(), fanfare.AuthorizeOptions{Provider: "your-platform", Issuer: "https://your-domain.com"}))

	for range 3 {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil))
		fmt.Printf("%d RateLimit: %s Retry-After: %q\n", rec.Code, rec.Header().Get("RateLimit"), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 200 RateLimit: "default";r=1;t=60 Retry-After: ""
	// 200 RateLimit: "default";r=0;t=60 Retry-After: ""
	// 429 RateLimit: "default";r=0;t=60 Retry-After: "60"
}
