package fanfaregin_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	fanfare "github.com/waitify-io/fanfare-go"
	fanfaregin "github.com/waitify-io/fanfare-go/adapters/gin"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/fanfaretest/middlewaretest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

// TestBehaviourTable runs the table of the net/http middleware through a
// gin router.
func TestBehaviourTable(t *testing.T) {
	middlewaretest.Run(t, func(s *middlewaretest.Setup) http.Handler {
		admission := s.Admission
		admission.Distribution = fanfare.DistributionFromPath(fanfare.TypeQueue, middlewaretest.QueueParam)
		login := func(c *gin.Context) {
			if id, ok := s.Identity(c.Request); ok {
				fanfaregin.SetIdentity(c, id)
			}
		}
		checkout := func(c *gin.Context) {
			outcome := s.Outcome(c.Request)
			a, ok := fanfaregin.Admission(c)
			switch {
			case !ok, outcome == middlewaretest.Fail:
				_ = c.AbortWithError(http.StatusInternalServerError, errors.New("checkout failed"))
			case outcome == middlewaretest.Panic:
				panic("checkout panicked")
			default:
				c.JSON(http.StatusOK, gin.H{"consumerId": a.ConsumerID})
			}
		}

		r := gin.New()
		r.Use(gin.RecoveryWithWriter(io.Discard))
		r.POST("/queues/:queue/checkout", fanfaregin.RequireAdmission(s.Client, admission), checkout)
		r.POST("/authorize", login, fanfaregin.SanitizeClaims(fanfare.ClaimsOptions{Policy: s.Claims}), fanfaregin.RateLimitAuthorize(s.RateLimit), fanfaregin.NewAuthorizeHandler(s.Client, s.Authorize))
		r.POST("/validate", fanfaregin.NewValidateAdmissionHandler(s.Client, s.Validate))
		return r
	})
}

// TestRequireAdmissionStatus checks how gin's ways of answering map to
// complete or release.
func TestRequireAdmissionStatus(t *testing.T) {
	tests := []struct {
		name          string
		handler       gin.HandlerFunc
		wantStatus    int
		wantCompleted bool
	}{
		{"JSON 200", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"ok": true}) }, http.StatusOK, true},
		{"201", func(c *gin.Context) { c.String(http.StatusCreated, "created") }, http.StatusCreated, true},
		{"nothing written", func(c *gin.Context) {}, http.StatusOK, true},
		{"Status 204, nothing written", func(c *gin.Context) { c.Status(http.StatusNoContent) }, http.StatusNoContent, true},
		{"AbortWithStatus 409", func(c *gin.Context) { c.AbortWithStatus(http.StatusConflict) }, http.StatusConflict, false},
		{"c.Error, nothing written", func(c *gin.Context) { _ = c.Error(errors.New("out of stock")) }, http.StatusOK, false},
		{"200 written, then c.Error", func(c *gin.Context) {
			c.String(http.StatusOK, "placed")
			_ = c.Error(errors.New("logged after the answer"))
		}, http.StatusOK, true},
		{"redirect", func(c *gin.Context) { c.Redirect(http.StatusFound, "/elsewhere") }, http.StatusFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fanfaretest.NewServer(fanfaretest.Options{})
			t.Cleanup(srv.Close)
			q := fanfare.Queue("q_gin")
			r := gin.New()
			r.POST("/checkout", fanfaregin.RequireAdmission(srv.Client(), fanfare.AdmissionOptions{
				Distribution: q,
				Store:        fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
			}), tt.handler)

			req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
			req.Header.Set("Fanfare-Admission", srv.Admit(q, "cons_1"))
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			assert.Equal(t, tt.wantStatus, rec.Code, "status")
			assert.Equal(t, tt.wantCompleted, srv.Completed(q, "cons_1"), "completed")
		})
	}
}

func TestDistributionFromPathWithoutTheMiddleware(t *testing.T) {
	r := gin.New()
	var err error
	r.POST("/queues/:queue", func(c *gin.Context) {
		_, err = fanfare.DistributionFromPath(fanfare.TypeQueue, "queue")(c.Request)
	})
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/queues/q_1", nil))
	require.Error(t, err, "gin's parameters are shown to net/http code by the adapter's middleware only")
}
