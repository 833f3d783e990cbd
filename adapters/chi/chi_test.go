package fanfarechi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"

	fanfare "github.com/waitify-io/fanfare-go"
	fanfarechi "github.com/waitify-io/fanfare-go/adapters/chi"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/fanfaretest/middlewaretest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestBehaviourTable runs the table of the net/http middleware through a chi
// router.
func TestBehaviourTable(t *testing.T) {
	middlewaretest.Run(t, func(s *middlewaretest.Setup) http.Handler {
		admission := s.Admission
		admission.Distribution = fanfare.DistributionFromPath(fanfare.TypeQueue, middlewaretest.QueueParam)
		login := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if id, ok := s.Identity(r); ok {
					r = r.WithContext(fanfare.WithIdentity(r.Context(), id))
				}
				next.ServeHTTP(w, r)
			})
		}
		checkout := func(w http.ResponseWriter, r *http.Request) {
			outcome := s.Outcome(r)
			a, ok := fanfarechi.Admission(r)
			switch {
			case !ok, outcome == middlewaretest.Fail:
				http.Error(w, "checkout failed", http.StatusInternalServerError)
			case outcome == middlewaretest.Panic:
				panic("checkout panicked")
			default:
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(map[string]string{"consumerId": a.ConsumerID})
			}
		}

		r := chi.NewRouter()
		r.Use(middleware.RequestLogger(quietLog{}), middleware.Recoverer)
		r.Route("/queues/{queue}", func(r chi.Router) {
			r.Use(fanfarechi.RequireAdmission(s.Client, admission))
			r.Post("/checkout", checkout)
		})
		r.With(login, fanfarechi.SanitizeClaims(fanfare.ClaimsOptions{Policy: s.Claims}), fanfarechi.RateLimitAuthorize(s.RateLimit)).
			Method(http.MethodPost, "/authorize", fanfarechi.NewAuthorizeHandler(s.Client, s.Authorize))
		r.Method(http.MethodPost, "/validate", fanfarechi.NewValidateAdmissionHandler(s.Client, s.Validate))
		return r
	})
}

// quietLog keeps the Recoverer from printing the table's deliberate panic.
type quietLog struct{}

func (quietLog) NewLogEntry(*http.Request) middleware.LogEntry   { return quietLog{} }
func (quietLog) Write(int, int, http.Header, time.Duration, any) {}
func (quietLog) Panic(any, []byte)                               {}

func TestDistributionFromPathOnChiRoutes(t *testing.T) {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(srv.Close)
	admitted := fanfarechi.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
		Distribution: fanfare.DistributionFromPath(fanfare.TypeDraw, "draw"),
	})
	ok := func(w http.ResponseWriter, r *http.Request) {}

	r := chi.NewRouter()
	r.With(admitted).Post("/draws/{draw}/checkout", ok)
	outer := chi.NewRouter()
	outer.Use(admitted) // above the routing: no parameter yet
	outer.Post("/draws/{draw}/checkout", ok)

	token := srv.Admit(fanfare.Draw("d_1"), "cons_1")
	tests := []struct {
		name   string
		h      http.Handler
		path   string
		status int
	}{
		{"the route's draw", r, "/draws/d_1/checkout", http.StatusOK},
		{"another draw", r, "/draws/d_2/checkout", http.StatusForbidden},
		{"mounted above the routing", outer, "/draws/d_1/checkout", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tt.path, nil)
			req.Header.Set("Fanfare-Admission", token)
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			assert.Equal(t, tt.status, rec.Code, rec.Body.String())
		})
	}
}
