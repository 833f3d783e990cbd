package fanfarechi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	fanfare "github.com/waitify-io/fanfare-go"
	fanfarechi "github.com/waitify-io/fanfare-go/adapters/chi"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// A checkout route for many queues, the queue named by the URL parameter.
func ExampleRequireAdmission() {
	srv := fanfaretest.NewServer(fanfaretest.Options{}) // stands in for api.fanfare.io
	defer srv.Close()

	r := chi.NewRouter()
	r.With(fanfarechi.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"),
	})).Post("/queues/{queue}/checkout", func(w http.ResponseWriter, r *http.Request) {
		a, _ := fanfarechi.Admission(r)
		fmt.Fprintf(w, "order placed for %s in %s", a.ConsumerID, a.Distribution)
	})

	token := srv.Admit(fanfare.Queue("q_red"), "cons_1")
	for _, path := range []string{"/queues/q_blue/checkout", "/queues/q_red/checkout"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Fanfare-Admission", token)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 403 {"error":"Invalid admission","message":"Your access has expired or is invalid","code":"ADMISSION_MISMATCH"}
	// 200 order placed for cons_1 in queue:q_red
}

// The authorize and validate endpoints on a chi router.
func ExampleNewAuthorizeHandler() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	yourAuth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user := r.Header.Get("X-User"); user != "" { // your session lookup
				r = r.WithContext(fanfare.WithIdentity(r.Context(), fanfare.Identity{Subject: user}))
			}
			next.ServeHTTP(w, r)
		})
	}
	r := chi.NewRouter()
	r.With(yourAuth, fanfarechi.SanitizeClaims(fanfare.ClaimsOptions{})).
		Method(http.MethodPost, "/api/fanfare/authorize", fanfarechi.NewAuthorizeHandler(srv.Client(), fanfare.AuthorizeOptions{
			Provider: "your-platform",
			Issuer:   "https://your-domain.com",
		}))
	r.Method(http.MethodPost, "/api/validate-admission", fanfarechi.NewValidateAdmissionHandler(srv.Client(), fanfare.ValidateAdmissionOptions{}))

	for _, path := range []string{"/api/fanfare/authorize", "/api/validate-admission"} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{}`)))
		fmt.Println(rec.Code, rec.Body.String())
	}
	// Output:
	// 401 {"error":"Unauthorized"}
	// 400 {"error":"queueId or drawId required"}
}

// The guide's limit on the authorize endpoint, here 2 a minute per client IP
// (no user is logged in).
func ExampleRateLimitAuthorize() {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()

	r := chi.NewRouter()
	r.With(fanfarechi.RateLimitAuthorize(fanfare.RateLimitOptions{Limit: fanfare.Limit{Requests: 2, Window: time.Minute}})).
		Method(http.MethodPost, "/api/fanfare/authorize", fanfarechi.NewAuthorizeHandler(srv.Client(), fanfare.AuthorizeOptions{
			Provider: "your-platform",
			Issuer:   "https://your-domain.com",
		}))

	for range 3 {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil))
		fmt.Printf("%d %s Retry-After: %q\n", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	// Output:
	// 401 {"error":"Unauthorized"} Retry-After: ""
	// 401 {"error":"Unauthorized"} Retry-After: ""
	// 429 {"error":"Too many auth requests"} Retry-After: "60"
}
