package fanfare_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

func ExampleNewAuthorizeHandler() {
	fanfareAPI := fanfaretest.NewServer(fanfaretest.Options{}) // in production: fanfare.NewClient(fanfare.ConfigFromEnv())
	defer fanfareAPI.Close()

	authorize := fanfare.NewAuthorizeHandler(fanfareAPI.Client(), fanfare.AuthorizeOptions{
		Provider: "your-platform",
		Issuer:   "https://your-domain.com",
	})

	// Your own auth middleware tells the handler who is logged in.
	yourAuth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user := fanfare.Identity{
				Subject: "user-42",
				Email:   "ada@example.com",
				Claims:  map[string]any{"tier": "gold", "password": "never sent"},
			}
			next.ServeHTTP(w, r.WithContext(fanfare.WithIdentity(r.Context(), user)))
		})
	}
	mux := http.NewServeMux()
	mux.Handle("POST /api/fanfare/authorize", yourAuth(authorize))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil))
	var body struct{ ExchangeCode, ExpiresAt string }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	fmt.Println(rec.Code, rec.Header().Get("Cache-Control"), body.ExchangeCode != "", body.ExpiresAt != "")

	sent := fanfareAPI.Authorizations()[0]
	fmt.Println(sent.Subject, sent.Claims)

	// Without a logged-in user:
	rec = httptest.NewRecorder()
	authorize.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil))
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// 200 no-store true true
	// user-42 map[email:ada@example.com tier:gold]
	// 401 {"error":"Unauthorized"}
}
