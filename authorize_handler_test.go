package fanfare_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

var authorizeOpts = fanfare.AuthorizeOptions{Provider: "your-platform", Issuer: "https://shop.example"}

func TestAuthorizeHandlerSuccess(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := fanfaretest.NewClock(start)
	srv := startEmulator(t, fanfaretest.Options{Clock: clock.Now})
	logger, logs := newLogger()
	opts := authorizeOpts
	opts.Logger = logger
	id := &fanfare.Identity{
		Subject: "user-42", Email: "ada@example.com", Name: "Ada Lovelace",
		Claims: map[string]any{
			"tier":     "gold",
			"password": "hunter2",
			"profile":  map[string]any{"cvv": "123", "size": "M"},
			"note":     "4111 1111 1111 1111",
		},
	}
	app := httptest.NewServer(withIdentity(id, fanfare.NewAuthorizeHandler(newTestClient(t, srv, time.Second), opts)))
	t.Cleanup(app.Close)

	res := send(t, http.MethodPost, app.URL, nil)

	require.Equal(t, http.StatusOK, res.status, "status; body %s", res.body)
	assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
	assert.Equal(t, "application/json", res.header.Get("Content-Type"))
	var body struct {
		ExchangeCode string `json:"exchangeCode"`
		ExpiresAt    string `json:"expiresAt"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.body), &body))
	require.NotEmpty(t, body.ExchangeCode)
	exp, err := time.Parse(time.RFC3339, body.ExpiresAt)
	require.NoError(t, err, "expiresAt %q is RFC 3339", body.ExpiresAt)
	assert.Equal(t, start.Add(60*time.Second), exp, "expiresAt: the emulator's clock + 60 s")

	// What reached Fanfare: the guide's payload, sanitized.
	auths := srv.Authorizations()
	require.Len(t, auths, 1)
	assert.Equal(t, "your-platform", auths[0].Provider)
	assert.Equal(t, "https://shop.example", auths[0].Issuer)
	assert.Equal(t, "user-42", auths[0].Subject)
	assert.Equal(t, map[string]any{
		"email": "ada@example.com", "name": "Ada Lovelace", "tier": "gold",
		"profile": map[string]any{"size": "M"},
	}, auths[0].Claims, "claims sent to Fanfare")
	assert.Equal(t, body.ExchangeCode, auths[0].ExchangeCode)
	assert.Equal(t, "hunter2", id.Claims["password"], "the identity's own claims are untouched")

	// The browser SDK can trade the code for a session, once.
	exchange := func() httpResult {
		return send(t, http.MethodPost, srv.URL+wire.PathExchange,
			strings.NewReader(mustMarshal(t, wire.ExchangeRequest{ExchangeCode: body.ExchangeCode})))
	}
	first := exchange()
	require.Equal(t, http.StatusOK, first.status, "exchange: %s", first.body)
	var session wire.ExchangeResponse
	require.NoError(t, json.Unmarshal([]byte(first.body), &session))
	assert.NotEmpty(t, session.AccessToken)
	assert.NotEmpty(t, session.ConsumerID)
	second := exchange()
	assert.Equal(t, http.StatusBadRequest, second.status, "a code is single-use")
	assert.Contains(t, second.body, wire.CodeInvalidExchangeCode)

	assert.Empty(t, logs.String(), "a success logs nothing")
}

// TestAuthorizeHandlerErrors runs every failure through the default error
// handler (status, body, headers) and through a custom one (the error it
// receives), over real HTTP against the emulator.
func TestAuthorizeHandlerErrors(t *testing.T) {
	user := &fanfare.Identity{Subject: "user-42", Email: "ada@example.com"}
	authFailed := `{"error":"Authentication failed"}`
	tests := []struct {
		name       string
		method     string
		id         *fanfare.Identity
		fault      *fanfaretest.Fault
		wrongKey   bool
		claims     fanfare.ClaimsPolicy
		wantStatus int
		wantBody   string
		wantErr    error
		wantCalls  int  // authorize calls that reached the emulator
		wantLog    bool // the cause is logged
	}{
		// A wrong method is protocol: the handler answers it, no ErrorHandler sees it (wantErr nil).
		{name: "GET", method: http.MethodGet, id: user, wantStatus: 405, wantBody: `{"error":"Method not allowed"}`},
		{name: "PUT", method: http.MethodPut, id: user, wantStatus: 405, wantBody: `{"error":"Method not allowed"}`},
		{name: "no identity", wantStatus: 401, wantBody: `{"error":"Unauthorized"}`, wantErr: fanfare.ErrNoIdentity},
		{name: "empty subject", id: &fanfare.Identity{Email: "a@b.c"}, wantStatus: 401, wantBody: `{"error":"Unauthorized"}`, wantErr: fanfare.ErrNoIdentity},
		{name: "claims too large", id: &fanfare.Identity{Subject: "u", Claims: map[string]any{"bio": strings.Repeat("a", 10000)}},
			wantStatus: 413, wantBody: `{"error":"Claims too large"}`, wantErr: fanfare.ErrClaimsTooLarge, wantLog: true},
		{name: "claims too large for a custom policy", id: user, claims: fanfare.ClaimsPolicy{MaxBytes: 10},
			wantStatus: 413, wantBody: `{"error":"Claims too large"}`, wantErr: fanfare.ErrClaimsTooLarge, wantLog: true},
		{name: "unencodable claims", id: &fanfare.Identity{Subject: "u", Claims: map[string]any{"c": make(chan int)}},
			wantStatus: 500, wantBody: `{"error":"Internal server error"}`, wantErr: fanfare.ErrInvalidClaims, wantLog: true},
		{name: "secret key refused by Fanfare", id: user, wrongKey: true,
			wantStatus: 502, wantBody: authFailed, wantErr: fanfare.ErrUnauthorized, wantCalls: 1, wantLog: true},
		{name: "Fanfare 401", id: user, fault: &fanfaretest.Fault{Status: 401},
			wantStatus: 502, wantBody: authFailed, wantErr: fanfare.ErrUnauthorized, wantCalls: 1, wantLog: true},
		{name: "Fanfare 400", id: user, fault: &fanfaretest.Fault{Status: 400},
			wantStatus: 502, wantBody: authFailed, wantErr: &fanfare.APIError{}, wantCalls: 1, wantLog: true},
		{name: "Fanfare 500", id: user, fault: &fanfaretest.Fault{Status: 500},
			wantStatus: 503, wantBody: authFailed, wantErr: fanfare.ErrUnavailable, wantCalls: 1, wantLog: true},
		{name: "Fanfare 503", id: user, fault: &fanfaretest.Fault{Status: 503},
			wantStatus: 503, wantBody: authFailed, wantErr: fanfare.ErrUnavailable, wantCalls: 1, wantLog: true},
		{name: "Fanfare 429", id: user, fault: &fanfaretest.Fault{Status: 429},
			wantStatus: 503, wantBody: authFailed, wantErr: fanfare.ErrUnavailable, wantCalls: 1, wantLog: true},
		{name: "connection dropped", id: user, fault: &fanfaretest.Fault{Drop: true},
			wantStatus: 503, wantBody: authFailed, wantErr: fanfare.ErrUnavailable, wantCalls: 1, wantLog: true},
		{name: "slower than the attempt timeout", id: user, fault: &fanfaretest.Fault{Latency: 5 * time.Second},
			wantStatus: 503, wantBody: authFailed, wantErr: fanfare.ErrUnavailable, wantCalls: 1, wantLog: true},
		{name: "malformed answer", id: user, fault: &fanfaretest.Fault{Malformed: true},
			wantStatus: 503, wantBody: authFailed, wantErr: fanfare.ErrUnavailable, wantCalls: 1, wantLog: true},
		{name: "oversized answer", id: user, fault: &fanfaretest.Fault{Oversized: true},
			wantStatus: 503, wantBody: authFailed, wantErr: fanfare.ErrUnavailable, wantCalls: 1, wantLog: true},
	}
	for _, tt := range tests {
		for _, custom := range []bool{false, true} {
			name := tt.name + "/default error handler"
			if custom {
				name = tt.name + "/custom error handler"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := startEmulator(t, fanfaretest.Options{})
				if tt.fault != nil {
					srv.InjectFault(fanfaretest.EndpointAuthorize, *tt.fault)
				}
				cfg := srv.Config()
				if tt.wrongKey {
					cfg.SecretKey = "sk_test_not_the_right_one"
				}
				// Short only where the timeout is the point: parallel subtests
				// on a busy machine must not time out by accident.
				cfg.AttemptTimeout = 10 * time.Second
				if tt.fault != nil && tt.fault.Latency > 0 {
					cfg.AttemptTimeout = 300 * time.Millisecond
				}
				client, err := fanfare.NewClient(cfg)
				require.NoError(t, err)

				logger, logs := newLogger()
				opts := authorizeOpts
				opts.Logger = logger
				opts.Claims = tt.claims
				var gotErr error
				if custom {
					opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
						gotErr = err
						w.WriteHeader(http.StatusTeapot)
					}
				}
				app := httptest.NewServer(withIdentity(tt.id, fanfare.NewAuthorizeHandler(client, opts)))
				t.Cleanup(app.Close)

				method := tt.method
				if method == "" {
					method = http.MethodPost
				}
				res := send(t, method, app.URL+"/api/fanfare/authorize", nil)

				if custom && tt.wantErr == nil {
					assert.NoError(t, gotErr, "the ErrorHandler is not called")
				}
				if custom && tt.wantErr != nil {
					assert.Equal(t, http.StatusTeapot, res.status, "the custom handler answers")
					require.Error(t, gotErr)
					var apiErr *fanfare.APIError
					if errors.As(tt.wantErr, &apiErr) {
						assert.ErrorAs(t, gotErr, &apiErr, "error given to ErrorHandler")
					} else {
						assert.ErrorIs(t, gotErr, tt.wantErr, "error given to ErrorHandler")
					}
					assert.True(t, strings.HasPrefix(gotErr.Error(), "fanfare:"), "error %q", gotErr)
				} else {
					assert.Equal(t, tt.wantStatus, res.status, "status; body %s", res.body)
					assert.JSONEq(t, tt.wantBody, res.body, "body")
					assert.Equal(t, "no-store", res.header.Get("Cache-Control"))
					assert.Equal(t, "application/json", res.header.Get("Content-Type"))
					if tt.wantStatus == http.StatusServiceUnavailable {
						assert.Equal(t, "1", res.header.Get("Retry-After"))
					} else {
						assert.Empty(t, res.header.Get("Retry-After"))
					}
				}
				if tt.wantStatus == http.StatusMethodNotAllowed {
					assert.Equal(t, "POST", res.header.Get("Allow"))
				}
				assert.Equal(t, tt.wantCalls, srv.Calls(fanfaretest.EndpointAuthorize), "authorize calls to Fanfare")
				if tt.wantLog {
					assert.Contains(t, logs.String(), "fanfare: authorize", "the cause is logged")
				} else {
					assert.Empty(t, logs.String(), "nothing to log")
				}
				assertNoSecret(t, srv, res.body, "the response body")
				assertNoSecret(t, srv, mustMarshal(t, res.header), "the response headers")
				assertNoSecret(t, srv, logs.String(), "the log")
				assert.NotContains(t, logs.String(), "xxxxxxxxxxxxxxxx", "Fanfare's raw body is not logged")
				assert.NotContains(t, logs.String(), `"malformed`, "Fanfare's raw body is not logged")
			})
		}
	}
}

// TestAuthorizeHandlerIdentityFunc takes the identity from an option instead
// of the context.
func TestAuthorizeHandlerIdentityFunc(t *testing.T) {
	errStore := errors.New("session store down")
	tests := []struct {
		name       string
		identity   func(*http.Request) (fanfare.Identity, error)
		wantStatus int
		wantErrs   []error
		wantLog    string
	}{
		{
			name: "identity from the request",
			identity: func(r *http.Request) (fanfare.Identity, error) {
				return fanfare.Identity{Subject: r.Header.Get("X-User")}, nil
			},
			wantStatus: http.StatusOK,
		},
		{
			name: "error",
			identity: func(*http.Request) (fanfare.Identity, error) {
				return fanfare.Identity{}, errStore
			},
			wantStatus: http.StatusUnauthorized,
			wantErrs:   []error{fanfare.ErrNoIdentity, errStore},
			wantLog:    "session store down",
		},
		{
			name: "ErrNoIdentity is not logged",
			identity: func(*http.Request) (fanfare.Identity, error) {
				return fanfare.Identity{}, fanfare.ErrNoIdentity
			},
			wantStatus: http.StatusUnauthorized,
			wantErrs:   []error{fanfare.ErrNoIdentity},
		},
		{
			name: "empty subject",
			identity: func(*http.Request) (fanfare.Identity, error) {
				return fanfare.Identity{Email: "a@b.c"}, nil
			},
			wantStatus: http.StatusUnauthorized,
			wantErrs:   []error{fanfare.ErrNoIdentity},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEmulator(t, fanfaretest.Options{})
			logger, logs := newLogger()
			var gotErr error
			opts := authorizeOpts
			opts.Identity = tt.identity
			opts.Logger = logger
			opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
				gotErr = err
				fanfare.WriteError(w, r, err)
			}
			h := fanfare.NewAuthorizeHandler(newTestClient(t, srv, time.Second), opts)
			req := httptest.NewRequest(http.MethodPost, "/api/fanfare/authorize", nil)
			req.Header.Set("X-User", "user-7")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			assert.Equal(t, tt.wantStatus, rec.Code, "status; body %s", rec.Body)
			for _, want := range tt.wantErrs {
				assert.ErrorIs(t, gotErr, want)
			}
			if tt.wantStatus == http.StatusOK {
				require.Len(t, srv.Authorizations(), 1)
				assert.Equal(t, "user-7", srv.Authorizations()[0].Subject)
				assert.Nil(t, srv.Authorizations()[0].Claims, "no claims to send")
			} else {
				assert.Zero(t, srv.Calls(fanfaretest.EndpointAuthorize), "no call to Fanfare")
			}
			if tt.wantLog != "" {
				assert.Contains(t, logs.String(), tt.wantLog)
			} else {
				assert.Empty(t, logs.String())
			}
		})
	}
}

// TestAuthorizeHandlerIgnoresBody: the body, whatever it says or weighs, has
// no say in what is sent to Fanfare.
func TestAuthorizeHandlerIgnoresBody(t *testing.T) {
	srv := startEmulator(t, fanfaretest.Options{})
	id := &fanfare.Identity{Subject: "user-42"}
	app := httptest.NewServer(withIdentity(id, fanfare.NewAuthorizeHandler(newTestClient(t, srv, time.Second), authorizeOpts)))
	t.Cleanup(app.Close)

	bodies := map[string]string{
		"json trying to pick the subject": `{"subject":"admin","claims":{"role":"admin"},"provider":"evil"}`,
		"not json":                        "\x00\x01garbage",
		"1 MiB":                           strings.Repeat("x", 1<<20),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			before := len(srv.Authorizations())
			res := send(t, http.MethodPost, app.URL, strings.NewReader(body))
			require.Equal(t, http.StatusOK, res.status, "body %s", res.body)
			auths := srv.Authorizations()
			require.Len(t, auths, before+1)
			got := auths[len(auths)-1]
			assert.Equal(t, "user-42", got.Subject)
			assert.Equal(t, "your-platform", got.Provider)
			assert.Nil(t, got.Claims)
		})
	}
}

// TestAuthorizeHandlerClientGoesAway: when the browser hangs up, the call to
// Fanfare is cancelled at once rather than left to its timeout.
func TestAuthorizeHandlerClientGoesAway(t *testing.T) {
	srv := startEmulator(t, fanfaretest.Options{})
	srv.InjectFault(fanfaretest.EndpointAuthorize, fanfaretest.Fault{Latency: time.Minute})
	logger, logs := newLogger()
	opts := authorizeOpts
	opts.Logger = logger
	h := fanfare.NewAuthorizeHandler(newTestClient(t, srv, time.Minute), opts)
	done := make(chan struct{})
	app := httptest.NewServer(withIdentity(&fanfare.Identity{Subject: "u"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		h.ServeHTTP(w, r)
	})))
	t.Cleanup(app.Close)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, app.URL, nil)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		resp, err := testClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return srv.Calls(fanfaretest.EndpointAuthorize) == 1 },
		5*time.Second, time.Millisecond, "the call reaches Fanfare")
	cancel()
	require.Error(t, <-errc, "the client gave up")

	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still waits on Fanfare after the client went away")
	}
	assert.Contains(t, logs.String(), "client went away")
	assert.Empty(t, srv.Authorizations(), "no code was minted")
}

func TestNewAuthorizeHandlerPanics(t *testing.T) {
	srv := startEmulator(t, fanfaretest.Options{})
	tests := []struct {
		name   string
		client *fanfare.Client
		opts   fanfare.AuthorizeOptions
		want   string
	}{
		{"no provider", srv.Client(), fanfare.AuthorizeOptions{Issuer: "https://x"}, "fanfare: AuthorizeOptions.Provider is required"},
		{"no issuer", srv.Client(), fanfare.AuthorizeOptions{Provider: "p"}, "fanfare: AuthorizeOptions.Issuer is required"},
		{"no client", nil, authorizeOpts, "fanfare: NewAuthorizeHandler needs a non-nil *Client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.PanicsWithValue(t, tt.want, func() { fanfare.NewAuthorizeHandler(tt.client, tt.opts) })
		})
	}
}

// TestAuthorizeBehindSanitizeClaims: the explicit middleware and the
// handler's own policy compose; the stricter one wins.
func TestAuthorizeBehindSanitizeClaims(t *testing.T) {
	srv := startEmulator(t, fanfaretest.Options{})
	id := &fanfare.Identity{Subject: "u", Email: "ada@example.com", Name: "Ada",
		Claims: map[string]any{"tier": "gold", "dob": "1815-12-10", "pin": "0000"}}
	h := withIdentity(id, fanfare.SanitizeClaims(fanfare.ClaimsOptions{Policy: fanfare.ClaimsPolicy{Allow: []string{"tier", "dob", "email"}}})(
		fanfare.NewAuthorizeHandler(newTestClient(t, srv, time.Second), fanfare.AuthorizeOptions{
			Provider: "p", Issuer: "https://i", Claims: fanfare.ClaimsPolicy{Deny: []string{"dob"}},
		})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code, "body %s", rec.Body)
	require.Len(t, srv.Authorizations(), 1)
	assert.Equal(t, map[string]any{"tier": "gold", "email": "ada@example.com"}, srv.Authorizations()[0].Claims)
}
