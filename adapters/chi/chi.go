// Package fanfarechi adapts fanfare to chi. chi speaks net/http, so
// fanfare's middleware and handlers mount on a chi router as they are, and
// chi sets r.PathValue for its URL parameters, so
// fanfare.DistributionFromPath names a distribution from the route. This
// package only forwards them under the names the gin and echo adapters use,
// so the three read the same. Mount RequireAdmission on the route (r.With,
// or r.Use inside r.Route), not with r.Use on a router above it: chi knows
// a route's parameters only once it has routed the request.
//
//	r := chi.NewRouter()
//	r.Use(middleware.Recoverer, yourAuth) // yourAuth: r.WithContext(fanfare.WithIdentity(ctx, fanfare.Identity{Subject: user.ID}))
//	r.With(
//		fanfarechi.SanitizeClaims(fanfare.ClaimsOptions{}),
//		fanfarechi.RateLimitAuthorize(fanfare.RateLimitOptions{}),
//	).Method(http.MethodPost, "/api/fanfare/authorize",
//		fanfarechi.NewAuthorizeHandler(client, fanfare.AuthorizeOptions{Provider: "shop", Issuer: "https://shop.example"}))
//	r.With(fanfarechi.RequireAdmission(client, fanfare.AdmissionOptions{
//		Distribution: fanfare.DistributionFromPath(fanfare.TypeQueue, "queue"),
//	})).Post("/queues/{queue}/checkout", checkout) // a, _ := fanfarechi.Admission(r)
package fanfarechi

import (
	"net/http"

	fanfare "github.com/waitify-io/fanfare-go"
)

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
