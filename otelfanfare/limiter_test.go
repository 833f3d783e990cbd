package otelfanfare_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/otelfanfare"
)

func TestLimiterCountsDecisions(t *testing.T) {
	tel := newTelemetry(t)
	clock := fanfaretest.NewClock(epoch)
	limit := fanfare.Limit{Requests: 2, Window: time.Minute}
	inner := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Limit: limit, MaxKeys: 1, Clock: clock.Now})
	l := otelfanfare.Limiter(inner, tel.opts...)
	require.Equal(t, limit, l.Limit())

	app := httptest.NewServer(fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limiter: l,
		KeyFunc: func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil },
		Clock:   clock.Now,
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	t.Cleanup(app.Close)
	get := func(user string) int {
		req, err := http.NewRequest(http.MethodGet, app.URL, nil)
		require.NoError(t, err)
		req.Header.Set("X-User", user)
		resp, err := app.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}

	for _, want := range []int{200, 200, 429} {
		require.Equal(t, want, get("u_1"))
	}
	require.Equal(t, http.StatusServiceUnavailable, get("u_2"), "the limiter is full: no decision")

	decision := func(d string) int64 {
		return tel.count(t, "fanfare.limiter.decisions", attribute.String("fanfare.limiter.decision", d))
	}
	assert.Equal(t, int64(2), decision("allowed"))
	assert.Equal(t, int64(1), decision("denied"))
	assert.Equal(t, int64(1), decision("error"))
}

func TestLimiterNil(t *testing.T) {
	assert.Panics(t, func() { otelfanfare.Limiter(nil) })
}
