package fanfareecho_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	fanfare "github.com/waitify-io/fanfare-go"
	fanfareecho "github.com/waitify-io/fanfare-go/adapters/echo"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/fanfaretest/middlewaretest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestBehaviourTable runs the table of the net/http middleware through an
// echo router with echo's default error handler.
func TestBehaviourTable(t *testing.T) {
	middlewaretest.Run(t, func(s *middlewaretest.Setup) http.Handler {
		admission := s.Admission
		admission.Distribution = fanfare.DistributionFromPath(fanfare.TypeQueue, middlewaretest.QueueParam)
		login := func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c *echo.Context) error {
				if id, ok := s.Identity(c.Request()); ok {
					fanfareecho.SetIdentity(c, id)
				}
				return next(c)
			}
		}
		checkout := func(c *echo.Context) error {
			outcome := s.Outcome(c.Request())
			a, ok := fanfareecho.Admission(c)
			switch {
			case !ok, outcome == middlewaretest.Fail:
				return errors.New("checkout failed") // echo answers 500
			case outcome == middlewaretest.Panic:
				panic("checkout panicked")
			}
			return c.JSON(http.StatusOK, map[string]string{"consumerId": a.ConsumerID})
		}

		e := echo.New()
		e.Use(middleware.Recover())
		e.POST("/queues/:queue/checkout", checkout, fanfareecho.RequireAdmission(s.Client, admission))
		e.POST("/authorize", fanfareecho.NewAuthorizeHandler(s.Client, s.Authorize), login, fanfareecho.SanitizeClaims(fanfare.ClaimsOptions{Policy: s.Claims}), fanfareecho.RateLimitAuthorize(s.RateLimit))
		e.POST("/validate", fanfareecho.NewValidateAdmissionHandler(s.Client, s.Validate))
		return e
	})
}

// TestRequireAdmissionStatus checks how echo's ways of answering map to
// complete or release.
func TestRequireAdmissionStatus(t *testing.T) {
	tests := []struct {
		name          string
		handler       echo.HandlerFunc
		wantStatus    int
		wantCompleted bool
	}{
		{"JSON 200", func(c *echo.Context) error { return c.JSON(http.StatusOK, map[string]bool{"ok": true}) }, http.StatusOK, true},
		{"201", func(c *echo.Context) error { return c.String(http.StatusCreated, "created") }, http.StatusCreated, true},
		{"NoContent", func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) }, http.StatusNoContent, true},
		{"nothing written", func(c *echo.Context) error { return nil }, http.StatusOK, true},
		{"returned error", func(c *echo.Context) error { return errors.New("out of stock") }, http.StatusInternalServerError, false},
		{"returned 409", func(c *echo.Context) error { return echo.NewHTTPError(http.StatusConflict, "sold out") }, http.StatusConflict, false},
		{"200 written, then an error", func(c *echo.Context) error {
			_ = c.String(http.StatusOK, "placed")
			return errors.New("after the answer")
		}, http.StatusOK, true},
		{"redirect", func(c *echo.Context) error { return c.Redirect(http.StatusFound, "/elsewhere") }, http.StatusFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fanfaretest.NewServer(fanfaretest.Options{})
			t.Cleanup(srv.Close)
			q := fanfare.Queue("q_echo")
			e := echo.New()
			e.POST("/checkout", tt.handler, fanfareecho.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
				Distribution: q,
				Store:        fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
			}))

			req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
			req.Header.Set("Fanfare-Admission", srv.Admit(q, "cons_1"))
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			assert.Equal(t, tt.wantStatus, rec.Code, "status")
			assert.Equal(t, tt.wantCompleted, srv.Completed(q, "cons_1"), "completed")
		})
	}
}

// TestCustomErrorHandler renders refusals its own way: the cause is there,
// the headers the refusal needs too, and its own Content-Type wins.
func TestCustomErrorHandler(t *testing.T) {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(srv.Close)
	q := fanfare.Queue("q_echo")
	var got error
	e := echo.New()
	e.HTTPErrorHandler = func(c *echo.Context, err error) {
		got = err
		_ = c.HTML(echo.StatusCode(err), "<p>Sorry</p>")
	}
	e.POST("/checkout", func(c *echo.Context) error { return c.NoContent(http.StatusOK) },
		fanfareecho.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{Distribution: q}))

	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusUnauthorized})
	req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
	req.Header.Set("Fanfare-Admission", srv.Admit(q, "cons_1"))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)

	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "<p>Sorry</p>", rec.Body.String())
	assert.Contains(t, rec.Header().Get("Content-Type"), "text/html")
	assert.Equal(t, "5", rec.Header().Get("Retry-After"))
	assert.ErrorIs(t, got, fanfare.ErrUnavailable)
	var fe *fanfareecho.Error
	require.ErrorAs(t, got, &fe)
	assert.JSONEq(t, `{"error":"Admission check unavailable","message":"Please try again in a moment","code":"ADMISSION_UNAVAILABLE"}`, string(fe.Body))
	var ae *fanfare.AdmissionError
	require.ErrorAs(t, got, &ae)
	assert.Equal(t, "ADMISSION_UNAVAILABLE", ae.Code)
}

func TestErrorJSON(t *testing.T) {
	tests := []struct {
		name string
		err  *fanfareecho.Error
		want string
	}{
		{"JSON body", &fanfareecho.Error{Status: 429, Body: []byte(`{"error":"Too many auth requests"}`)}, `{"error":"Too many auth requests"}`},
		{"text body", &fanfareecho.Error{Status: 403, Body: []byte("forbidden")}, `{"error":"Forbidden"}`},
		{"no body", &fanfareecho.Error{Status: 500}, `{"error":"Internal Server Error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.err.MarshalJSON()
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(b))
			assert.Contains(t, tt.err.Error(), "fanfare: ")
		})
	}
}
