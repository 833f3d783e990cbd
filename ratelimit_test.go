package fanfare_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// okHandler answers 200 and echoes the RateLimit field it finds already
// set on the response.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "ok %s", w.Header().Get("RateLimit"))
})

type request struct {
	remote   string
	identity string
	headers  map[string]string
}

func serve(t *testing.T, h http.Handler, req request) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil)
	if req.remote != "" {
		r.RemoteAddr = req.remote
	}
	if req.identity != "" {
		r = r.WithContext(fanfare.WithIdentity(r.Context(), fanfare.Identity{Subject: req.identity}))
	}
	for k, v := range req.headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// allowedN sends requests until the first refusal and returns how many passed.
func allowedN(t *testing.T, h http.Handler, req request) int {
	t.Helper()
	for n := 0; n < 100; n++ {
		if serve(t, h, req).Code != http.StatusOK {
			return n
		}
	}
	t.Fatal("never limited")
	return 0
}

func TestRateLimitAuthorizeDefaultPolicy(t *testing.T) {
	c := fanfaretest.NewClock(time.Time{})
	h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Clock: c.Now})(okHandler)
	alice := request{identity: "alice"}

	for i := range 10 {
		w := serve(t, h, alice)
		require.Equal(t, http.StatusOK, w.Code, "request %d", i+1)
		assert.Equal(t, fmt.Sprintf(`ok "default";r=%d;t=60`, 9-i), w.Body.String(), "the next handler sees the fields")
		assert.Equal(t, `"default";q=10;w=60`, w.Header().Get("RateLimit-Policy"))
		assert.Equal(t, fmt.Sprintf(`"default";r=%d;t=60`, 9-i), w.Header().Get("RateLimit"))
		assert.Empty(t, w.Header().Get("Retry-After"))
		assert.Empty(t, w.Header().Get("X-RateLimit-Limit"), "legacy headers are opt-in")
	}

	for _, tc := range []struct {
		advance        time.Duration
		wantRetryAfter string
	}{
		{0, "60"},
		{17*time.Second + 250*time.Millisecond, "43"}, // 42.75s, rounded up
		{42 * time.Second, "1"},                       // 0.75s
		{749 * time.Millisecond, "1"},                 // 1ms
	} {
		c.Advance(tc.advance)
		w := serve(t, h, alice)
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.JSONEq(t, `{"error":"Too many auth requests"}`, w.Body.String())
		assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		assert.Equal(t, tc.wantRetryAfter, w.Header().Get("Retry-After"), "Retry-After")
		assert.Equal(t, `"default";q=10;w=60`, w.Header().Get("RateLimit-Policy"))
		assert.Equal(t, `"default";r=0;t=`+tc.wantRetryAfter, w.Header().Get("RateLimit"))
	}

	c.Advance(time.Millisecond)
	w := serve(t, h, alice)
	require.Equal(t, http.StatusOK, w.Code, "a whole window after the burst")
	assert.Equal(t, `"default";r=9;t=60`, w.Header().Get("RateLimit"))
}

func TestRateLimitAuthorizeKeys(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      fanfare.RateLimitOptions
		first     request
		second    request
		wantShare bool
	}{
		{"two users behind one IP", fanfare.RateLimitOptions{},
			request{identity: "alice", remote: "192.0.2.1:1"}, request{identity: "bob", remote: "192.0.2.1:2"}, false},
		{"one user from two IPs", fanfare.RateLimitOptions{},
			request{identity: "alice", remote: "192.0.2.1:1"}, request{identity: "alice", remote: "198.51.100.1:2"}, true},
		{"a user named like an IP is not that IP", fanfare.RateLimitOptions{},
			request{identity: "192.0.2.1"}, request{remote: "192.0.2.1:1"}, false},
		{"anonymous: one IP, two ports", fanfare.RateLimitOptions{},
			request{remote: "192.0.2.1:1"}, request{remote: "192.0.2.1:2"}, true},
		{"anonymous: two IPs", fanfare.RateLimitOptions{},
			request{remote: "192.0.2.1:1"}, request{remote: "192.0.2.2:1"}, false},
		{"IPv4-mapped IPv6 is the IPv4 address", fanfare.RateLimitOptions{},
			request{remote: "192.0.2.1:1"}, request{remote: "[::ffff:192.0.2.1]:1"}, true},
		{"IPv6: one /64", fanfare.RateLimitOptions{},
			request{remote: "[2001:db8:1:2::1]:1"}, request{remote: "[2001:db8:1:2:ffff:ffff:ffff:fffe]:1"}, true},
		{"IPv6: two /64s", fanfare.RateLimitOptions{},
			request{remote: "[2001:db8:1:2::1]:1"}, request{remote: "[2001:db8:1:3::1]:1"}, false},
		{"IPv6: /128 when asked", fanfare.RateLimitOptions{IPv6PrefixLen: 128},
			request{remote: "[2001:db8:1:2::1]:1"}, request{remote: "[2001:db8:1:2::2]:1"}, false},
		{"IPv6: /48 when asked", fanfare.RateLimitOptions{IPv6PrefixLen: 48},
			request{remote: "[2001:db8:1:2::1]:1"}, request{remote: "[2001:db8:1:3::1]:1"}, true},
		{"spoofed X-Forwarded-For buys no fresh budget", fanfare.RateLimitOptions{},
			request{remote: "192.0.2.1:1", headers: map[string]string{"X-Forwarded-For": "1.1.1.1"}},
			request{remote: "192.0.2.1:1", headers: map[string]string{"X-Forwarded-For": "2.2.2.2", "X-Real-IP": "3.3.3.3"}}, true},
		{"spoofed hop left of a trusted proxy's buys none either", fanfare.RateLimitOptions{TrustedProxies: mustPrefixes(t, "10.0.0.0/8")},
			request{remote: "10.0.0.1:1", headers: map[string]string{"X-Forwarded-For": "1.1.1.1, 198.51.100.7"}},
			request{remote: "10.0.0.2:1", headers: map[string]string{"X-Forwarded-For": "2.2.2.2, 198.51.100.7"}}, true},
		{"trusted proxy: two clients", fanfare.RateLimitOptions{TrustedProxies: mustPrefixes(t, "10.0.0.0/8")},
			request{remote: "10.0.0.1:1", headers: map[string]string{"X-Forwarded-For": "198.51.100.7"}},
			request{remote: "10.0.0.1:1", headers: map[string]string{"X-Forwarded-For": "198.51.100.8"}}, false},
		{"KeyFunc keys cannot reach a user's budget", fanfare.RateLimitOptions{KeyFunc: headerKey},
			request{identity: "alice"}, request{headers: map[string]string{"X-Tenant": "id:alice"}}, false},
		{"KeyFunc returning empty falls back", fanfare.RateLimitOptions{KeyFunc: headerKey},
			request{identity: "alice"}, request{identity: "alice", headers: map[string]string{"X-Other": "x"}}, true},
		{"KeyFunc keys", fanfare.RateLimitOptions{KeyFunc: headerKey},
			request{identity: "alice", headers: map[string]string{"X-Tenant": "acme"}},
			request{identity: "bob", headers: map[string]string{"X-Tenant": "acme"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Limit = fanfare.Limit{Requests: 3, Window: time.Minute}
			h := fanfare.RateLimitAuthorize(opts)(okHandler)
			require.Equal(t, 3, allowedN(t, h, tc.first), "first client's burst")
			got := allowedN(t, h, tc.second)
			if tc.wantShare {
				assert.Zero(t, got, "second client should share the first's budget")
			} else {
				assert.Equal(t, 3, got, "second client should have its own budget")
			}
		})
	}
}

func headerKey(r *http.Request) (string, error) { return r.Header.Get("X-Tenant"), nil }

func TestRateLimitAuthorizeLegacyHeaders(t *testing.T) {
	c := fanfaretest.NewClock(time.Time{})
	h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limit:         fanfare.Limit{Requests: 2, Window: 30 * time.Second},
		LegacyHeaders: true,
		Clock:         c.Now,
	})(okHandler)
	start := c.Now().Unix()
	for _, want := range []struct {
		code      int
		remaining string
		reset     int64
		state     string
	}{
		{http.StatusOK, "1", start + 30, `"default";r=1;t=30`},
		{http.StatusOK, "0", start + 30, `"default";r=0;t=30`},
		{http.StatusTooManyRequests, "0", start + 30, `"default";r=0;t=30`},
	} {
		w := serve(t, h, request{identity: "alice"})
		require.Equal(t, want.code, w.Code)
		assert.Equal(t, "2", w.Header().Get("X-RateLimit-Limit"))
		assert.Equal(t, want.remaining, w.Header().Get("X-RateLimit-Remaining"))
		assert.Equal(t, strconv.FormatInt(want.reset, 10), w.Header().Get("X-RateLimit-Reset"))
		assert.Equal(t, `"default";q=2;w=30`, w.Header().Get("RateLimit-Policy"))
		assert.Equal(t, want.state, w.Header().Get("RateLimit"))
	}
	c.Advance(10 * time.Second)
	w := serve(t, h, request{identity: "alice"})
	assert.Equal(t, strconv.FormatInt(start+30, 10), w.Header().Get("X-RateLimit-Reset"))
	assert.Equal(t, "20", w.Header().Get("Retry-After"))
}

// TestRateLimitAuthorizeLargePolicy covers numbers of several digits in
// every field.
func TestRateLimitAuthorizeLargePolicy(t *testing.T) {
	c := fanfaretest.NewClock(time.Time{})
	h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limit:         fanfare.Limit{Requests: 5000, Window: 24 * time.Hour},
		LegacyHeaders: true,
		Clock:         c.Now,
	})(okHandler)
	w := serve(t, h, request{identity: "alice"})
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, `"default";q=5000;w=86400`, w.Header().Get("RateLimit-Policy"))
	assert.Equal(t, `"default";r=4999;t=86400`, w.Header().Get("RateLimit"))
	assert.Equal(t, "4999", w.Header().Get("X-RateLimit-Remaining"))
}

func TestRateLimitAuthorizeErrorHandler(t *testing.T) {
	var gotErr error
	h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limit: fanfare.Limit{Requests: 1, Window: time.Second},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			gotErr = err
			assert.Equal(t, "1", w.Header().Get("Retry-After"), "set before the handler runs")
			assert.Equal(t, `"default";q=1;w=1`, w.Header().Get("RateLimit-Policy"), "set before the handler runs")
			assert.Equal(t, `"default";r=0;t=1`, w.Header().Get("RateLimit"), "set before the handler runs")
			w.WriteHeader(http.StatusTeapot)
		},
	})(okHandler)
	require.Equal(t, http.StatusOK, serve(t, h, request{}).Code)
	w := serve(t, h, request{})
	assert.Equal(t, http.StatusTeapot, w.Code)
	assert.ErrorIs(t, gotErr, fanfare.ErrRateLimited)
	assert.Equal(t, "1", w.Header().Get("Retry-After"), "the handler's answer keeps the fields")
}

// TestRateLimitAuthorizeDefaultAnswers: the default ErrorHandler
// (WriteError) answers 429 over the limit and 503 when the limiter
// cannot decide, without the limiter's error in the body.
func TestRateLimitAuthorizeDefaultAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limiter  fanfare.Limiter
		wantCode int
		wantBody string
	}{
		{"over the limit", fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Requests: 1, Window: time.Minute}}),
			http.StatusTooManyRequests, `{"error":"Too many auth requests"}`},
		{"limiter full", failingLimiter{fanfare.ErrTooManyKeys}, http.StatusServiceUnavailable, `{"error":"Service unavailable"}`},
		{"limiter down", failingLimiter{errors.New("redis: connection refused")}, http.StatusServiceUnavailable, `{"error":"Service unavailable"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Limiter: tc.limiter, Logger: slog.New(slog.DiscardHandler)})(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			var w *httptest.ResponseRecorder
			for range 2 {
				w = httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
			}
			assert.Equal(t, tc.wantCode, w.Code)
			assert.JSONEq(t, tc.wantBody, w.Body.String())
			assert.NotContains(t, w.Body.String(), "redis", "the error stays out of the response")
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		})
	}
}

// failingLimiter is a limiter whose store is down.
type failingLimiter struct{ err error }

func (f failingLimiter) Allow(context.Context, string) (fanfare.Decision, error) {
	return fanfare.Decision{}, f.err
}
func (f failingLimiter) Limit() fanfare.Limit {
	return fanfare.Limit{Requests: 10, Window: time.Minute}
}

func TestRateLimitAuthorizeLimiterErrors(t *testing.T) {
	storeDown := errors.New("fanfare: redis: connection refused")
	wrappedFull := fmt.Errorf("shard 3: %w", fanfare.ErrTooManyKeys)
	for _, tc := range []struct {
		name     string
		opts     fanfare.RateLimitOptions
		wantCode int
		wantBody string
	}{
		{"fails closed by default", fanfare.RateLimitOptions{Limiter: failingLimiter{storeDown}},
			http.StatusServiceUnavailable, `{"error":"Service unavailable"}`},
		{"fails open when asked", fanfare.RateLimitOptions{Limiter: failingLimiter{storeDown}, FailOpen: true},
			http.StatusOK, ""},
		{"never fails open on a full limiter", fanfare.RateLimitOptions{Limiter: failingLimiter{wrappedFull}, FailOpen: true},
			http.StatusServiceUnavailable, `{"error":"Service unavailable"}`},
		{"key errors fail closed", fanfare.RateLimitOptions{KeyFunc: func(*http.Request) (string, error) { return "", storeDown }},
			http.StatusServiceUnavailable, `{"error":"Service unavailable"}`},
		{"custom error handler", fanfare.RateLimitOptions{Limiter: failingLimiter{storeDown},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				assert.ErrorIs(t, err, storeDown)
				w.WriteHeader(http.StatusBadGateway)
			}}, http.StatusBadGateway, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			tc.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			h := fanfare.RateLimitAuthorize(tc.opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Empty(t, w.Header().Get("RateLimit"), "no decision when the limiter failed")
				w.WriteHeader(http.StatusOK)
			}))
			w := serve(t, h, request{identity: "alice-secret-subject"})
			assert.Equal(t, tc.wantCode, w.Code)
			if tc.wantBody != "" {
				assert.JSONEq(t, tc.wantBody, w.Body.String())
			}
			assert.Empty(t, w.Header().Get("RateLimit"), "no decision, no RateLimit field")
			assert.Contains(t, logs.String(), "fanfare: rate limiter failed")
			assert.NotContains(t, logs.String(), "alice-secret-subject", "the key stays out of the logs")
		})
	}
}

func TestRateLimitAuthorizeFullMemoryLimiter(t *testing.T) {
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{MaxKeys: 1})
	h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Limiter: l, FailOpen: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})(okHandler)
	assert.Equal(t, http.StatusOK, serve(t, h, request{identity: "alice"}).Code)
	assert.Equal(t, http.StatusServiceUnavailable, serve(t, h, request{identity: "bob"}).Code, "a new key past MaxKeys")
	assert.Equal(t, http.StatusOK, serve(t, h, request{identity: "alice"}).Code, "known keys go on")
}

func TestRateLimitAuthorizePanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts fanfare.RateLimitOptions
	}{
		{"Limit and Limiter", fanfare.RateLimitOptions{Limit: fanfare.Limit{Requests: 5}, Limiter: fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{})}},
		{"IPv6PrefixLen too long", fanfare.RateLimitOptions{IPv6PrefixLen: 129}},
		{"IPv6PrefixLen negative", fanfare.RateLimitOptions{IPv6PrefixLen: -1}},
		{"zero prefix", fanfare.RateLimitOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}}},
		{"Limit out of range", fanfare.RateLimitOptions{Limit: fanfare.Limit{Requests: -3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "no panic")
				assert.True(t, strings.HasPrefix(fmt.Sprint(r), "fanfare: "), "panic %q", r)
			}()
			fanfare.RateLimitAuthorize(tc.opts)
		})
	}
}

// TestRateLimitAuthorizeOverLoopback runs the middleware in a real server:
// the client is the loopback peer.
func TestRateLimitAuthorizeOverLoopback(t *testing.T) {
	srv := httptest.NewServer(fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limit: fanfare.Limit{Requests: 2, Window: time.Hour},
	})(okHandler))
	defer srv.Close()
	var codes []int
	for range 3 {
		resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			assert.Equal(t, "3600", resp.Header.Get("Retry-After"))
			assert.Equal(t, `"default";r=0;t=3600`, resp.Header.Get("RateLimit"))
		}
	}
	assert.Equal(t, []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests}, codes)
}

func TestRateLimitAuthorizeAllocs(t *testing.T) {
	h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limit: fanfare.Limit{Requests: 1000, Window: time.Millisecond},
	})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tc := range []struct {
		name string
		req  *http.Request
	}{
		{"identity", httptest.NewRequestWithContext(fanfare.WithIdentity(context.Background(), fanfare.Identity{Subject: "user-42"}), http.MethodPost, "/", nil)},
		{"IPv4", httptest.NewRequest(http.MethodPost, "/", nil)},
		{"IPv6", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr = "[2001:db8:1:2::7]:443"
			return r
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &discardWriter{h: http.Header{}}
			allocs := testing.AllocsPerRun(2000, func() { h.ServeHTTP(w, tc.req) })
			assert.LessOrEqual(t, allocs, 4.0, "allocations per request through the middleware")
			t.Logf("%v allocs/op", allocs)
		})
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// TestRateLimitAuthorizeUnalignedClock: a real clock is not on a tick; the
// headers must still read a whole window, not a window and a second.
func TestRateLimitAuthorizeUnalignedClock(t *testing.T) {
	c := fanfaretest.NewClock(time.Time{})
	c.Advance(1234567 * time.Nanosecond)
	h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{Clock: c.Now})(okHandler)
	w := serve(t, h, request{identity: "alice"})
	assert.Equal(t, `"default";r=9;t=60`, w.Header().Get("RateLimit"))
	for range 9 {
		c.Advance(3 * time.Microsecond)
		serve(t, h, request{identity: "alice"})
	}
	c.Advance(5 * time.Microsecond)
	w = serve(t, h, request{identity: "alice"})
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "60", w.Header().Get("Retry-After"))
	assert.Equal(t, `"default";r=0;t=60`, w.Header().Get("RateLimit"))
}

// TestRateLimitAuthorizeLegacyResetNotBeforeTheRealReset: X-RateLimit-Reset is "Unix
// time, in seconds, when Remaining next grows", but it is the current Unix
// second floored plus the rounded-up reset: with a clock in the middle of a
// second it names a second before the reset, and a client that waits for
// it is refused again (express-rate-limit sends the ceiling of the reset
// time).
func TestRateLimitAuthorizeLegacyResetNotBeforeTheRealReset(t *testing.T) {
	c := fanfaretest.NewClock(time.Unix(1000, 900_000_000))
	h := fanfare.RateLimitAuthorize(fanfare.RateLimitOptions{
		Limit:         fanfare.Limit{Requests: 1, Window: 10 * time.Second},
		LegacyHeaders: true,
		Clock:         c.Now,
	})(okHandler)
	w := serve(t, h, request{identity: "alice"})
	require.Equal(t, http.StatusOK, w.Code)
	reset, err := strconv.ParseInt(w.Header().Get("X-RateLimit-Reset"), 10, 64)
	require.NoError(t, err)

	c.Advance(time.Unix(reset, 0).Sub(c.Now())) // wait until the advertised reset
	w = serve(t, h, request{identity: "alice"})
	assert.Equal(t, http.StatusOK, w.Code, "X-RateLimit-Reset %d: Remaining must have grown by then (it grows at 1010.9)", reset)
	assert.Equal(t, int64(1011), reset, "the reset time rounded up to whole seconds")
}
