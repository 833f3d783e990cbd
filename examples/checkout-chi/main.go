// Command checkout-chi is examples/checkout on chi: the same shop, the same
// HTTP contract. chi speaks net/http, so the shop's own middleware and the
// library's mount as they are.
//
//	go run ./examples/checkout-chi          # serve on 127.0.0.1:8080
//	go run ./examples/checkout-chi -demo    # drive the whole flow once and exit
package main

import (
	"context"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	fanfarechi "github.com/waitify-io/fanfare-go/adapters/chi"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
)

func main() {
	os.Exit(shop.Main(context.Background(), "checkout-chi", newApp, os.Args[1:], os.Stdout, os.Stderr))
}

// newApp wires the shop on a chi router.
func newApp(cfg shop.Config) (http.Handler, error) {
	s, err := shop.New(cfg)
	if err != nil {
		return nil, err
	}
	o := s.Options()

	r := chi.NewRouter()
	r.Use(middleware.Recoverer, s.Sessions.Authenticate) // your own auth: the toy login's session
	r.Get("/api/config", s.ConfigHandler().ServeHTTP)
	r.Post("/login", s.Sessions.Login)
	r.With(
		fanfarechi.SanitizeClaims(o.Claims),
		fanfarechi.RateLimitAuthorize(o.RateLimit),
	).Method(http.MethodPost, "/api/fanfare/authorize", fanfarechi.NewAuthorizeHandler(s.Client(), o.Authorize))
	r.Method(http.MethodPost, "/api/validate-admission", fanfarechi.NewValidateAdmissionHandler(s.Client(), o.Validate))
	r.With(
		shop.RequireLogin,
		fanfarechi.RequireAdmission(s.Client(), o.Admission),
	).Post("/api/checkout", s.Checkout().ServeHTTP) // your handler reads fanfarechi.Admission(r)
	return r, nil
}
