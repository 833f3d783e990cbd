// Command checkout-echo is examples/checkout on echo v5: the same shop, the
// same HTTP contract, mounted with the fanfareecho adapter.
//
//	go run ./examples/checkout-echo          # serve on 127.0.0.1:8080
//	go run ./examples/checkout-echo -demo    # drive the whole flow once and exit
package main

import (
	"context"
	"net/http"
	"os"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
	fanfareecho "github.com/waitify-io/fanfare-go/adapters/echo"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
)

func main() {
	os.Exit(shop.Main(context.Background(), "checkout-echo", newApp, os.Args[1:], os.Stdout, os.Stderr))
}

// newApp wires the shop on an echo router. Refusals of the fanfareecho
// middleware reach echo's default error handler, which writes the library's
// answers.
func newApp(cfg shop.Config) (http.Handler, error) {
	s, err := shop.New(cfg)
	if err != nil {
		return nil, err
	}
	o := s.Options()

	// Your own auth: here the toy login's session becomes the request's
	// fanfare.Identity.
	authenticate := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if id, ok := s.Sessions.Identity(c.Request()); ok {
				fanfareecho.SetIdentity(c, id)
			}
			return next(c)
		}
	}
	requireLogin := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if !shop.LoggedIn(c.Request()) {
				shop.WriteUnauthorized(c.Response())
				return nil
			}
			return next(c)
		}
	}

	e := echo.New()
	e.Use(middleware.Recover(), authenticate)
	e.GET("/api/config", echo.WrapHandler(s.ConfigHandler()))
	e.POST("/login", echo.WrapHandler(http.HandlerFunc(s.Sessions.Login)))
	e.POST("/api/fanfare/authorize", fanfareecho.NewAuthorizeHandler(s.Client(), o.Authorize),
		fanfareecho.SanitizeClaims(o.Claims),
		fanfareecho.RateLimitAuthorize(o.RateLimit))
	e.POST("/api/validate-admission", fanfareecho.NewValidateAdmissionHandler(s.Client(), o.Validate))
	e.POST("/api/checkout", echo.WrapHandler(s.Checkout()), // your handler reads fanfareecho.Admission(c)
		requireLogin,
		fanfareecho.RequireAdmission(s.Client(), o.Admission))
	return e, nil
}
