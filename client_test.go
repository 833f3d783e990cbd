package fanfare_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// countingTransport counts round trips over the real default transport, so
// tests can see retries that never reach a server.
type countingTransport struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func newEmulator(t *testing.T) *fanfaretest.Server {
	t.Helper()
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	t.Cleanup(srv.Close)
	return srv
}

// fastClient is the emulator's client with short timeouts and backoff, so
// fault tests run in milliseconds.
func fastClient(t *testing.T, srv *fanfaretest.Server, edit ...func(*fanfare.Config)) *fanfare.Client {
	t.Helper()
	cfg := srv.Config()
	cfg.AttemptTimeout = 300 * time.Millisecond
	cfg.Retry = fanfare.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := fanfare.NewClient(cfg)
	require.NoError(t, err)
	return c
}

func TestAuthorize(t *testing.T) {
	srv := newEmulator(t)
	c := fastClient(t, srv)
	ctx := context.Background()

	claims, err := fanfare.ClaimsPolicy{}.Sanitize(map[string]any{"email": "a@example.com", "tier": "gold"})
	require.NoError(t, err)
	code, err := c.Authorize(ctx, fanfare.AuthorizeRequest{
		Provider: "shop", Issuer: "https://shop.example", Subject: "user-1", Claims: claims,
	})
	require.NoError(t, err)
	assert.NotEmpty(t, code.Code)
	assert.WithinDuration(t, srv.Now().Add(60*time.Second), code.ExpiresAt, time.Second)

	auths := srv.Authorizations()
	require.Len(t, auths, 1)
	assert.Equal(t, "shop", auths[0].Provider)
	assert.Equal(t, "https://shop.example", auths[0].Issuer)
	assert.Equal(t, "user-1", auths[0].Subject)
	assert.Equal(t, map[string]any{"email": "a@example.com", "tier": "gold"}, auths[0].Claims)
	assert.Equal(t, code.Code, auths[0].ExchangeCode)
}

func TestAuthorizeErrors(t *testing.T) {
	tests := []struct {
		name      string
		fault     *fanfaretest.Fault
		secret    string
		wantIs    error
		wantCalls int
	}{
		{"wrong secret", nil, "sk_test_wrong", fanfare.ErrUnauthorized, 1},
		{"server error is not retried", &fanfaretest.Fault{Status: 500}, "", fanfare.ErrUnavailable, 1},
		{"503 is not retried", &fanfaretest.Fault{Status: 503}, "", fanfare.ErrUnavailable, 1},
		{"dropped connection is not retried", &fanfaretest.Fault{Drop: true}, "", fanfare.ErrUnavailable, 1},
		{"malformed", &fanfaretest.Fault{Malformed: true}, "", fanfare.ErrUnavailable, 1},
		{"oversized", &fanfaretest.Fault{Oversized: true}, "", fanfare.ErrUnavailable, 1},
		{"timeout", &fanfaretest.Fault{Latency: 2 * time.Second}, "", fanfare.ErrUnavailable, 1},
		{"consumer conflict code", &fanfaretest.Fault{Status: 409}, "", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newEmulator(t)
			if tt.fault != nil {
				srv.InjectFault(fanfaretest.EndpointAuthorize, *tt.fault)
			}
			c := fastClient(t, srv, func(cfg *fanfare.Config) {
				if tt.secret != "" {
					cfg.SecretKey = tt.secret
				}
			})
			_, err := c.Authorize(context.Background(), fanfare.AuthorizeRequest{Provider: "p", Issuer: "i", Subject: "s"})
			require.Error(t, err)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			assert.Equal(t, tt.wantCalls, srv.Calls(fanfaretest.EndpointAuthorize), "authorize calls")
			assert.NotContains(t, err.Error(), srv.SecretKey)
			assert.Regexp(t, `^fanfare: `, err.Error())
		})
	}
}

func TestAuthorizeRejectsBadInputBeforeNetwork(t *testing.T) {
	srv := newEmulator(t)
	c := fastClient(t, srv)
	_, err := c.Authorize(context.Background(), fanfare.AuthorizeRequest{Provider: "p", Issuer: "i"})
	assert.ErrorContains(t, err, "required")
	for _, claims := range []string{`[1]`, `"x"`, `{"a":`, `{"a":1}{}`, `null`} {
		_, err = c.Authorize(context.Background(), fanfare.AuthorizeRequest{
			Provider: "p", Issuer: "i", Subject: "s", Claims: json.RawMessage(claims),
		})
		assert.ErrorIs(t, err, fanfare.ErrInvalidClaims, "claims %s", claims)
	}
	assert.Equal(t, 0, srv.Calls(fanfaretest.EndpointAuthorize))
}

// An authorize whose connection could not even be made is retried: nothing
// reached Fanfare, so no second code can be minted.
func TestAuthorizeRetriesConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	rt := &countingTransport{next: http.DefaultTransport.(*http.Transport).Clone()}
	c, err := fanfare.NewClient(fanfare.Config{
		APIURL: "http://" + addr, OrganizationID: "org_1", SecretKey: "sk_test_x",
		HTTPClient: &http.Client{Transport: rt},
		Retry:      fanfare.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
	})
	require.NoError(t, err)
	_, err = c.Authorize(context.Background(), fanfare.AuthorizeRequest{Provider: "p", Issuer: "i", Subject: "s"})
	assert.ErrorIs(t, err, fanfare.ErrUnavailable)
	assert.Equal(t, int32(3), rt.n.Load(), "attempts")
}

func TestValidateAdmission(t *testing.T) {
	srv := newEmulator(t)
	c := fastClient(t, srv)
	ctx := context.Background()
	q := fanfare.Queue("q_1")
	token := srv.Admit(q, "cons_1")

	tests := []struct {
		name     string
		d        fanfare.Distribution
		consumer string
		token    string
		want     bool
	}{
		{"admitted", q, "cons_1", token, true},
		{"other consumer", q, "cons_2", token, false},
		{"other queue", fanfare.Queue("q_2"), "cons_1", token, false},
		{"other type", fanfare.Draw("q_1"), "cons_1", token, false},
		{"garbage token", q, "cons_1", "not-a-jwt", false},
		{"edited token", q, "cons_1", token[:len(token)-4] + "AAAA", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ValidateAdmission(ctx, tt.d, tt.consumer, tt.token)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestValidateAdmissionEscapesIDs(t *testing.T) {
	srv := newEmulator(t)
	c := fastClient(t, srv)
	d := fanfare.Auction("lot/7?x=1")
	ok, err := c.ValidateAdmission(context.Background(), d, "cons_1", srv.Admit(d, "cons_1"))
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestValidateAdmissionFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     fanfaretest.Fault
		want      bool
		wantIs    error
		wantCalls int
	}{
		{"two 503s then success", fanfaretest.Fault{Status: 503, Times: 2}, true, nil, 3},
		{"503 beyond the retry budget", fanfaretest.Fault{Status: 503}, false, fanfare.ErrUnavailable, 3},
		{"429 is retried", fanfaretest.Fault{Status: 429, Times: 1}, true, nil, 2},
		{"dropped connection retried", fanfaretest.Fault{Drop: true, Times: 1}, true, nil, 2},
		{"slow attempt retried", fanfaretest.Fault{Latency: 2 * time.Second, Times: 1}, true, nil, 2},
		{"malformed is not retried", fanfaretest.Fault{Malformed: true}, false, fanfare.ErrUnavailable, 1},
		{"oversized is not retried", fanfaretest.Fault{Oversized: true}, false, fanfare.ErrUnavailable, 1},
		{"401 is not retried", fanfaretest.Fault{Status: 401}, false, fanfare.ErrUnauthorized, 1},
		{"400 is a refusal", fanfaretest.Fault{Status: 400}, false, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newEmulator(t)
			c := fastClient(t, srv)
			q := fanfare.Queue("q_1")
			token := srv.Admit(q, "cons_1")
			srv.InjectFault(fanfaretest.EndpointValidate, tt.fault)

			got, err := c.ValidateAdmission(context.Background(), q, "cons_1", token)
			assert.Equal(t, tt.want, got)
			switch {
			case tt.wantIs != nil:
				assert.ErrorIs(t, err, tt.wantIs)
			case tt.want:
				assert.NoError(t, err)
			default:
				var apiErr *fanfare.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.NotErrorIs(t, err, fanfare.ErrUnavailable)
			}
			assert.Equal(t, tt.wantCalls, srv.Calls(fanfaretest.EndpointValidate), "validate calls")
		})
	}
}

func TestValidateAdmissionHonoursCallerDeadline(t *testing.T) {
	srv := newEmulator(t)
	c := fastClient(t, srv)
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Latency: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ValidateAdmission(ctx, fanfare.Queue("q"), "c", "t")
	assert.ErrorIs(t, err, fanfare.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second, "the caller's deadline bounds the call")
}

func TestValidateAdmissionRejectsBadInputBeforeNetwork(t *testing.T) {
	srv := newEmulator(t)
	c := fastClient(t, srv)
	ctx := context.Background()
	_, err := c.ValidateAdmission(ctx, fanfare.Queue(""), "c", "t")
	assert.ErrorIs(t, err, fanfare.ErrInvalidDistribution)
	_, err = c.ValidateAdmission(ctx, fanfare.Distribution{Type: "raffle", ID: "x"}, "c", "t")
	assert.ErrorIs(t, err, fanfare.ErrInvalidDistribution)
	_, err = c.ValidateAdmission(ctx, fanfare.Queue("q"), "", "t")
	assert.Error(t, err)
	_, err = c.ValidateAdmission(ctx, fanfare.Queue("q"), "c", "")
	assert.Error(t, err)
	assert.Equal(t, 0, srv.Calls(fanfaretest.EndpointValidate))
}

func TestValidateAdmissionConcurrent(t *testing.T) {
	srv := newEmulator(t)
	c := srv.Client()
	q := fanfare.Queue("q_burst")
	const n = 200
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = srv.Admit(q, "cons_"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	var wg sync.WaitGroup
	var valid atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := "cons_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			ok, err := c.ValidateAdmission(context.Background(), q, consumer, tokens[i])
			if err == nil && ok {
				valid.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(n), valid.Load())
}

func TestCompleteAdmission(t *testing.T) {
	srv := newEmulator(t)
	c := fastClient(t, srv)
	ctx := context.Background()
	d := fanfare.Draw("d_1")
	token := srv.Admit(d, "cons_1")

	require.NoError(t, c.CompleteAdmission(ctx, d, "cons_1"))
	assert.True(t, srv.Completed(d, "cons_1"))
	require.NoError(t, c.CompleteAdmission(ctx, d, "cons_1"), "completing twice is harmless")
	assert.Len(t, srv.Completions(), 1)

	ok, err := c.ValidateAdmission(ctx, d, "cons_1", token)
	require.NoError(t, err)
	assert.False(t, ok, "a completed admission no longer validates")

	err = c.CompleteAdmission(ctx, d, "cons_unknown")
	assert.ErrorIs(t, err, fanfare.ErrNotFound)
	assert.ErrorIs(t, c.CompleteAdmission(ctx, fanfare.Draw(""), "c"), fanfare.ErrInvalidDistribution)
}

func TestCompleteAdmissionThroughFaults(t *testing.T) {
	for _, f := range []fanfaretest.Fault{
		{Status: 503, Times: 2},
		{Drop: true, Times: 1},
		{Latency: 2 * time.Second, Times: 1},
	} {
		srv := newEmulator(t)
		c := fastClient(t, srv)
		d := fanfare.Queue("q_1")
		srv.Admit(d, "cons_1")
		srv.InjectFault(fanfaretest.EndpointComplete, f)
		require.NoError(t, c.CompleteAdmission(context.Background(), d, "cons_1"), "fault %+v", f)
		assert.Len(t, srv.Completions(), 1, "fault %+v", f)
	}
}

func TestErrorsNeverCarryTheSecret(t *testing.T) {
	srv := newEmulator(t)
	c := fastClient(t, srv)
	faults := []fanfaretest.Fault{{Status: 500}, {Status: 401}, {Drop: true}, {Malformed: true}, {Oversized: true}}
	for _, f := range faults {
		srv.ClearFaults()
		srv.InjectFault(fanfaretest.EndpointValidate, f)
		srv.InjectFault(fanfaretest.EndpointAuthorize, f)
		_, err1 := c.ValidateAdmission(context.Background(), fanfare.Queue("q"), "c", "t")
		_, err2 := c.Authorize(context.Background(), fanfare.AuthorizeRequest{Provider: "p", Issuer: "i", Subject: "s"})
		for _, err := range []error{err1, err2} {
			require.Error(t, err)
			assert.NotContains(t, err.Error(), srv.SecretKey)
		}
	}
	var apiErr *fanfare.APIError
	srv.ClearFaults()
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: 418})
	_, err := c.ValidateAdmission(context.Background(), fanfare.Queue("q"), "c", "t")
	require.True(t, errors.As(err, &apiErr))
	assert.Equal(t, 418, apiErr.StatusCode)
	assert.Equal(t, "validate", apiErr.Op)
}

// TestClientDoesNotFollowRedirects: a redirect from the API (a proxy
// misconfigured, an upstream compromised) must neither carry the secret key
// to another host nor let that host answer for Fanfare.
func TestClientDoesNotFollowRedirects(t *testing.T) {
	srv := newEmulator(t)
	var leaked atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Secret-Key") != "" {
			leaked.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("true"))
	}))
	t.Cleanup(elsewhere.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)

	for _, tc := range []struct {
		name string
		hc   *http.Client
	}{
		{"default HTTP client", nil},
		{"caller's HTTP client", &http.Client{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaked.Store(0)
			cfg := srv.Config()
			cfg.APIURL = redirector.URL
			cfg.HTTPClient = tc.hc
			c, err := fanfare.NewClient(cfg)
			require.NoError(t, err)

			ok, err := c.ValidateAdmission(context.Background(), fanfare.Queue("q_1"), "c_1", "tok")
			assert.False(t, ok, "a redirect target answered for Fanfare")
			assert.ErrorIs(t, err, fanfare.ErrUnavailable, "a redirect is not an answer the API gives")
			_, err = c.Authorize(context.Background(), fanfare.AuthorizeRequest{Provider: "p", Issuer: "i", Subject: "s"})
			assert.ErrorIs(t, err, fanfare.ErrUnavailable)
			assert.NotContains(t, err.Error(), cfg.SecretKey)
			assert.Zero(t, leaked.Load(), "the secret key was sent to the redirect target")
		})
	}
}

// TestAuthorizeSendsTheMeasuredBytes: the claims Fanfare receives are the
// bytes the policy measured, not a second encoding of them, so the size
// limit holds for what is sent. Exactly the limit passes; one byte more is
// refused before any call.
func TestAuthorizeSendsTheMeasuredBytes(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	fanfareAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"exchangeCode":"exc_1","expiresAt":"2030-01-01T00:00:00Z"}`)
	}))
	t.Cleanup(fanfareAPI.Close)
	c, err := fanfare.NewClient(fanfare.Config{APIURL: fanfareAPI.URL, OrganizationID: "org_1", SecretKey: "sk_test_measured"})
	require.NoError(t, err)

	// {"bio":"…","email":"a@example.com"} with HTML-escaped characters,
	// which encoding/json writes six bytes wide.
	claimsOf := func(size int) map[string]any {
		fixed := len(`{"bio":"","email":"a@example.com"}`)
		n := size - fixed
		return map[string]any{"email": "a@example.com", "bio": strings.Repeat("<", n/6) + strings.Repeat("é", n%6/2) + strings.Repeat("a", n%6%2)}
	}
	authorize := fanfare.NewAuthorizeHandler(c, fanfare.AuthorizeOptions{Provider: "p", Issuer: "https://i", Logger: slog.New(slog.DiscardHandler)})
	const limit = 10000 // the guide's limit, ClaimsPolicy.MaxBytes's default (README, step 6)
	for _, tt := range []struct {
		size       int
		wantStatus int
	}{
		{limit, http.StatusOK},
		{limit + 1, http.StatusRequestEntityTooLarge},
	} {
		mu.Lock()
		bodies = nil
		mu.Unlock()
		claims := claimsOf(tt.size)
		want, err := fanfare.ClaimsPolicy{MaxBytes: 1 << 20}.Sanitize(claims)
		require.NoError(t, err)
		require.Len(t, want, tt.size)

		rec := httptest.NewRecorder()
		withIdentity(&fanfare.Identity{Subject: "u1", Claims: claims}, authorize).
			ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/authorize", nil))
		require.Equal(t, tt.wantStatus, rec.Code, "claims of %d bytes", tt.size)
		mu.Lock()
		got := bodies
		mu.Unlock()
		if tt.wantStatus != http.StatusOK {
			assert.Empty(t, got, "claims over the limit must not reach Fanfare")
			continue
		}
		require.Len(t, got, 1)
		var sent struct{ Claims json.RawMessage }
		require.NoError(t, json.Unmarshal(got[0], &sent))
		assert.Equal(t, string(want), string(sent.Claims), "the claims sent are the bytes measured")
		assert.Len(t, sent.Claims, limit)
	}
}

// echoSecret is the key the echoing servers below are sent. It has
// characters outside the usual key alphabet, so that only scrubbing the
// client's own key (not just anything shaped like sk_...) removes it whole.
const echoSecret = "sk_test_Echo+/=.9~x<y>&z"

// TestSecretScrubbedFromEchoes: Fanfare, or a proxy in front of it, echoes
// the request's X-Secret-Key in its error code, its message, a plain-text
// body, or a raw answer that is not even HTTP. The key appears nowhere:
// not in errors (Error, %v, %+v, %#v), not in the handlers' logs, not in
// their responses.
func TestSecretScrubbedFromEchoes(t *testing.T) {
	echo := func(r *http.Request) string {
		var b strings.Builder
		for k, v := range r.Header {
			b.WriteString(k + ": " + strings.Join(v, ",") + "; ")
		}
		return b.String()
	}
	jsonEcho := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get("X-Secret-Key")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"error": "bad_key_" + key,
				"message": "headers: " + echo(r) + " query-escaped: " + url.QueryEscape(key) +
					" path-escaped: " + url.PathEscape(key) + " quoted: " + strconv.Quote(key),
			})
		}
	}
	servers := map[string]string{}
	for name, h := range map[string]http.Handler{
		"401 JSON echo": jsonEcho(http.StatusUnauthorized),
		"400 JSON echo": jsonEcho(http.StatusBadRequest),
		"503 JSON echo": jsonEcho(http.StatusServiceUnavailable),
		"502 text echo": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "proxy error: "+echo(r), http.StatusBadGateway)
		}),
	} {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		servers[name] = srv.URL
	}
	servers["not HTTP: the request's header line sent back"] = rawEchoServer(t)

	for name, apiURL := range servers {
		t.Run(name, func(t *testing.T) {
			log, logs := newLogger()
			c, err := fanfare.NewClient(fanfare.Config{
				APIURL: apiURL, OrganizationID: "org_1", SecretKey: echoSecret,
				Retry: fanfare.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
			})
			require.NoError(t, err)
			ctx := context.Background()
			var errs []error
			_, err = c.Authorize(ctx, fanfare.AuthorizeRequest{Provider: "p", Issuer: "i", Subject: "s"})
			errs = append(errs, err)
			_, err = c.ValidateAdmission(ctx, fanfare.Queue("q"), "c", "t")
			errs = append(errs, err)
			errs = append(errs, c.CompleteAdmission(ctx, fanfare.Queue("q"), "c"))
			for _, err := range errs {
				require.Error(t, err)
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
					assertNoEcho(t, fmt.Sprintf(verb, err), "error as "+verb)
				}
				var apiErr *fanfare.APIError
				if errors.As(err, &apiErr) {
					assertNoEcho(t, apiErr.Code+apiErr.Message, "APIError fields")
					if apiErr.Code != "" {
						assert.Contains(t, apiErr.Error(), "[REDACTED]", "the echo is visible as redacted")
					}
				}
			}

			mux := http.NewServeMux()
			mux.Handle("/authorize", withIdentity(&fanfare.Identity{Subject: "u1"},
				fanfare.NewAuthorizeHandler(c, fanfare.AuthorizeOptions{Provider: "p", Issuer: "https://i", Logger: log})))
			mux.Handle("/validate", fanfare.NewValidateAdmissionHandler(c, fanfare.ValidateAdmissionOptions{Logger: log}))
			shop := httptest.NewServer(mux)
			t.Cleanup(shop.Close)
			for _, res := range []httpResult{
				send(t, http.MethodPost, shop.URL+"/authorize", nil),
				send(t, http.MethodPost, shop.URL+"/validate", strings.NewReader(`{"queueId":"q","consumerId":"c","token":"t"}`)),
			} {
				assert.GreaterOrEqual(t, res.status, 400)
				assertNoEcho(t, res.body, "a handler's response body")
				assertNoEcho(t, fmt.Sprint(res.header), "a handler's response headers")
			}
			require.NotEmpty(t, logs.String(), "the failures are logged")
			assertNoEcho(t, logs.String(), "the log")
		})
	}
}

// assertNoEcho fails when echoSecret shows in s, as it is or escaped.
func assertNoEcho(t *testing.T, s, what string) {
	t.Helper()
	for _, form := range []string{echoSecret, url.QueryEscape(echoSecret), url.PathEscape(echoSecret), strconv.Quote(echoSecret), "sk_test_Echo"} {
		if strings.Contains(s, form) {
			t.Errorf("the secret key (%q) appears in %s: %s", form, what, s)
		}
	}
}

// rawEchoServer starts a loopback listener that answers every request with
// its own X-Secret-Key header line, which is not HTTP: net/http quotes
// such an answer in its error.
func rawEchoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				_, _ = io.WriteString(conn, "X-Secret-Key: "+req.Header.Get("X-Secret-Key")+"\r\n\r\n")
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestNewClientBesideAWrappedDefaultTransport: a program that wraps
// http.DefaultTransport (otelhttp, httpmock, an APM agent) still builds
// clients, with or without its own HTTPClient, and JWKS verifiers; 0.1 did.
// Not parallel: it swaps a global while no other test runs.
func TestNewClientBesideAWrappedDefaultTransport(t *testing.T) {
	orig := http.DefaultTransport
	http.DefaultTransport = &countingTransport{next: orig}
	t.Cleanup(func() { http.DefaultTransport = orig })
	srv := newEmulator(t)

	for _, hc := range []*http.Client{nil, {Transport: orig}} {
		cfg := srv.Config()
		cfg.HTTPClient = hc
		var c *fanfare.Client
		require.NotPanics(t, func() {
			var err error
			c, err = fanfare.NewClient(cfg)
			require.NoError(t, err)
		})
		_, err := c.Authorize(context.Background(), fanfare.AuthorizeRequest{Provider: "shop", Issuer: "https://shop.example", Subject: "u1"})
		require.NoError(t, err)
	}
	require.NotPanics(t, func() {
		v, err := fanfare.NewJWKSVerifier(context.Background(), srv.JWKSURL(), fanfare.JWKSOptions{})
		require.NoError(t, err)
		require.NoError(t, v.Close())
	})
}
