// Package fanfarechi adapts fanfare to chi. chi speaks net/http, so
// fanfare's middleware and handlers mount on a chi router as they are; this
// package adds what is chi's own — the distribution named by a URL
// parameter — and forwards the rest under the names the gin and echo
// adapters use, so the three read the same.
//
//	r := chi.NewRouter()
//	r.Use(middleware.Recoverer, yourAuth) // yourAuth: r.WithContext(fanfare.WithIdentity(ctx, fanfare.Identity{Subject: user.ID}))
//	r.With(
//		fanfarechi.SanitizeClaims(fanfare.ClaimsOptions{}),
//		fanfarechi.RateLimitAuthorize(fanfare.RateLimitOptions{}),
//	).Method(http.MethodPost, "/api/fanfare/authorize",
//		fanfarechi.NewAuthorizeHandler(client, fanfare.AuthorizeOptions{Provider: "shop", Issuer: "https://shop.example"}))
//	r.With(fanfarechi.RequireAdmission(client, fanfare.AdmissionOptions{
//		DistributionFunc: fanfarechi.DistributionFromURLParam(fanfare.TypeQueue, "queue"),
//	})).Post("/queues/{queue}/checkout", checkout) // a, _ := fanfarechi.Admission(r)
package fanfarechi

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	fanfare "github.com/waitify-io/fanfare-go"
)

// DistributionFromURLParam names the distribution of type t from the chi URL
// parameter name, e.g. DistributionFromURLParam(fanfare.TypeQueue, "queue")
// on "/queues/{queue}/checkout". Use it as AdmissionOptions.DistributionFunc.
// chi knows a route's parameters only once it has routed the request, so
// mount RequireAdmission on the route (r.With, or r.Use inside r.Route),
// not with r.Use on a router above it: there the parameter is empty and
// every request is refused. It panics if t is not a known type or name is
// empty.
func DistributionFromURLParam(t fanfare.DistributionType, name string) func(*http.Request) (fanfare.Distribution, error) {
	if err := (fanfare.Distribution{Type: t, ID: "-"}).Validate(); err != nil || name == "" {
		panic("fanfare: DistributionFromURLParam: unknown type or empty parameter name")
	}
	return func(r *http.Request) (fanfare.Distribution, error) {
		id := chi.URLParam(r, name)
		if id == "" {
			return fanfare.Distribution{}, fmt.Errorf("fanfare: the route has no %q URL parameter", name)
		}
		return fanfare.Distribution{Type: t, ID: id}, nil
	}
}

// RequireAdmission is [fanfare.RequireAdmission].
func RequireAdmission(client *fanfare.Client, opts fanfare.AdmissionOptions) func(http.Handler) http.Handler {
	return fanfare.RequireAdmission(client, opts)
}

// SanitizeClaims is [fanfare.SanitizeClaims].
func SanitizeClaims(opts fanfare.ClaimsOptions) func(http.Handler) http.Handler {
	return fanfare.SanitizeClaims(opts)
}

// RateLimitAuthorize is [fanfare.RateLimitAuthorize].
func RateLimitAuthorize(opts fanfare.RateLimitOptions) func(http.Handler) http.Handler {
	return fanfare.RateLimitAuthorize(opts)
}

// NewAuthorizeHandler is [fanfare.NewAuthorizeHandler].
func NewAuthorizeHandler(client *fanfare.Client, opts fanfare.AuthorizeOptions) http.Handler {
	return fanfare.NewAuthorizeHandler(client, opts)
}

// NewValidateAdmissionHandler is [fanfare.NewValidateAdmissionHandler].
func NewValidateAdmissionHandler(client *fanfare.Client, opts fanfare.ValidateAdmissionOptions) http.Handler {
	return fanfare.NewValidateAdmissionHandler(client, opts)
}

// Admission returns the admission [RequireAdmission] let through:
// fanfare.AdmissionFromContext(r.Context()).
func Admission(r *http.Request) (*fanfare.Admission, bool) {
	return fanfare.AdmissionFromContext(r.Context())
}
