package fanfare_test

import (
	"net/http"
	"testing"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest/middlewaretest"
)

// TestBehaviourTable runs the behaviour table that the gin, echo and chi
// adapters run too, against the net/http middleware on an http.ServeMux.
func TestBehaviourTable(t *testing.T) {
	middlewaretest.Run(t, func(s *middlewaretest.Setup) http.Handler {
		admission := s.Admission
		admission.Distribution = fanfare.DistributionFunc(fanfare.DistributionFromPath(fanfare.TypeQueue, middlewaretest.QueueParam))
		login := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if id, ok := s.Identity(r); ok {
					r = r.WithContext(fanfare.WithIdentity(r.Context(), id))
				}
				next.ServeHTTP(w, r)
			})
		}

		mux := http.NewServeMux()
		mux.Handle("POST /queues/{queue}/checkout", fanfare.RequireAdmission(s.Client, admission)(tableCheckout(s)))
		mux.Handle("POST /authorize", login(fanfare.SanitizeClaims(fanfare.ClaimsOptions{Policy: s.Claims})(fanfare.RateLimitAuthorize(s.RateLimit)(fanfare.NewAuthorizeHandler(s.Client, s.Authorize)))))
		mux.Handle("POST /validate", fanfare.NewValidateAdmissionHandler(s.Client, s.Validate))
		return recoverer(mux)
	})
}

// tableCheckout is the behaviour table's checkout handler on net/http.
func tableCheckout(s *middlewaretest.Setup) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outcome := s.Outcome(r)
		a, ok := fanfare.AdmissionFromContext(r.Context())
		switch {
		case !ok, outcome == middlewaretest.Fail:
			http.Error(w, "checkout failed", http.StatusInternalServerError)
		case outcome == middlewaretest.Panic:
			panic("checkout panicked")
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"consumerId":"` + a.ConsumerID + `"}`))
		}
	})
}

// recoverer answers 500 to a panicking handler, as the routers' recovery
// middleware do; net/http alone would drop the connection.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
