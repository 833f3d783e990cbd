// Command checkout-gin is examples/checkout on gin: the same shop, the same
// HTTP contract, mounted with the fanfaregin adapter.
//
//	go run ./examples/checkout-gin          # serve on 127.0.0.1:8080
//	go run ./examples/checkout-gin -demo    # drive the whole flow once and exit
package main

import (
	"context"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"
	fanfaregin "github.com/waitify-io/fanfare-go/adapters/gin"
	"github.com/waitify-io/fanfare-go/examples/internal/shop"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(shop.Main(context.Background(), "checkout-gin", newApp, os.Args[1:], os.Stdout, os.Stderr))
}

// newApp wires the shop on a gin router.
func newApp(cfg shop.Config) (http.Handler, error) {
	s, err := shop.New(cfg)
	if err != nil {
		return nil, err
	}
	o := s.Options()

	// Your own auth: here the toy login's session becomes the request's
	// fanfare.Identity.
	authenticate := func(c *gin.Context) {
		if id, ok := s.Sessions.Identity(c.Request); ok {
			fanfaregin.SetIdentity(c, id)
		}
	}
	requireLogin := func(c *gin.Context) {
		if !shop.LoggedIn(c.Request) {
			shop.WriteUnauthorized(c.Writer)
			c.Abort()
		}
	}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(gin.Recovery(), authenticate)
	r.GET("/api/config", gin.WrapH(s.ConfigHandler()))
	r.POST("/login", gin.WrapF(s.Sessions.Login))
	r.POST("/api/fanfare/authorize",
		fanfaregin.SanitizeClaims(o.Claims),
		fanfaregin.RateLimitAuthorize(o.RateLimit),
		fanfaregin.NewAuthorizeHandler(s.Client(), o.Authorize))
	r.POST("/api/validate-admission", fanfaregin.NewValidateAdmissionHandler(s.Client(), o.Validate))
	r.POST("/api/checkout",
		requireLogin,
		fanfaregin.RequireAdmission(s.Client(), o.Admission),
		gin.WrapH(s.Checkout())) // your handler reads fanfaregin.Admission(c)
	return r, nil
}
