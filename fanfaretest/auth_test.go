package fanfaretest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

func TestAuthorize(t *testing.T) {
	srv, _ := newClockedServer(t, fanfaretest.Options{})
	good := wire.AuthorizeRequest{Provider: "shop", Issuer: "https://shop.example", Subject: "u1"}
	wrongKey := secret(srv)
	wrongKey.Set(wire.HeaderSecretKey, "sk_test_wrong")
	wrongOrg := secret(srv)
	wrongOrg.Set(wire.HeaderOrganizationID, "org_other")
	noKey := secret(srv)
	noKey.Del(wire.HeaderSecretKey)
	pkKey := secret(srv)
	pkKey.Set(wire.HeaderSecretKey, srv.PublishableKey)

	tests := []struct {
		name       string
		method     string
		header     http.Header
		body       any
		wantStatus int
		wantCode   string
	}{
		{"wrong secret key", http.MethodPost, wrongKey, good, http.StatusUnauthorized, wire.CodeUnauthorized},
		{"wrong organization", http.MethodPost, wrongOrg, good, http.StatusUnauthorized, wire.CodeUnauthorized},
		{"no secret key", http.MethodPost, noKey, good, http.StatusUnauthorized, wire.CodeUnauthorized},
		{"publishable key", http.MethodPost, pkKey, good, http.StatusUnauthorized, wire.CodeUnauthorized},
		{"no headers", http.MethodPost, nil, good, http.StatusUnauthorized, wire.CodeUnauthorized},
		{"GET", http.MethodGet, secret(srv), nil, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"not JSON", http.MethodPost, secret(srv), "{provider", http.StatusBadRequest, wire.CodeBadRequest},
		{"empty body", http.MethodPost, secret(srv), "", http.StatusBadRequest, wire.CodeBadRequest},
		{"JSON null", http.MethodPost, secret(srv), "null", http.StatusBadRequest, wire.CodeBadRequest},
		{"trailing data", http.MethodPost, secret(srv), `{"provider":"p","issuer":"i","subject":"s"} {}`, http.StatusBadRequest, wire.CodeBadRequest},
		{"missing subject", http.MethodPost, secret(srv), wire.AuthorizeRequest{Provider: "p", Issuer: "i"}, http.StatusBadRequest, wire.CodeBadRequest},
		{"missing provider", http.MethodPost, secret(srv), wire.AuthorizeRequest{Issuer: "i", Subject: "s"}, http.StatusBadRequest, wire.CodeBadRequest},
		{"missing issuer", http.MethodPost, secret(srv), wire.AuthorizeRequest{Provider: "p", Subject: "s"}, http.StatusBadRequest, wire.CodeBadRequest},
		{"claims not an object", http.MethodPost, secret(srv), `{"provider":"p","issuer":"i","subject":"s","claims":[1]}`, http.StatusBadRequest, wire.CodeBadRequest},
		{"subject not a string", http.MethodPost, secret(srv), `{"provider":"p","issuer":"i","subject":7}`, http.StatusBadRequest, wire.CodeBadRequest},
		{"body over 64 KiB", http.MethodPost, secret(srv), `{"provider":"p","issuer":"i","subject":"` + strings.Repeat("s", 64<<10) + `"}`, http.StatusRequestEntityTooLarge, "payload_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, srv, tt.method, wire.PathAuthorize, tt.header, tt.body)
			assert.Equal(t, tt.wantStatus, r.status, "status; body %s", r.body)
			assert.Equal(t, tt.wantCode, r.errorCode(t))
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.NotContains(t, string(r.body), srv.SecretKey, "the secret key must never be echoed")
		})
	}
	assert.Empty(t, srv.Authorizations(), "refused calls are not authorizations")
	assert.Equal(t, len(tests), srv.Calls(fanfaretest.EndpointAuthorize), "every request is counted")

	t.Run("success", func(t *testing.T) {
		claims := map[string]any{"email": "a@shop.example", "tier": "gold", "nested": map[string]any{"n": 1.0}}
		r := post(t, srv, wire.PathAuthorize, secret(srv), wire.AuthorizeRequest{
			Provider: "shop", Issuer: "https://shop.example", Subject: "u1", Claims: mustRawJSON(t, claims),
		})
		require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
		assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"), "server-side endpoints do not answer CORS")
		got := decode[wire.AuthorizeResponse](t, r)
		assert.GreaterOrEqual(t, len(got.ExchangeCode), 40, "code %q must be unguessable", got.ExchangeCode)
		assert.Equal(t, start.Add(60*time.Second).Format(time.RFC3339), got.ExpiresAt)

		auths := srv.Authorizations()
		require.Len(t, auths, 1)
		assert.Equal(t, fanfaretest.Authorization{
			Provider: "shop", Issuer: "https://shop.example", Subject: "u1", Claims: claims, ExchangeCode: got.ExchangeCode,
		}, auths[0])
	})

	t.Run("codes differ", func(t *testing.T) {
		a, b := authorize(t, srv, "u2"), authorize(t, srv, "u2")
		assert.NotEqual(t, a, b)
	})

	t.Run("through fanfare.Client", func(t *testing.T) {
		code, err := srv.Client().Authorize(t.Context(), fanfare.AuthorizeRequest{Provider: "shop", Issuer: "iss", Subject: "u3"})
		require.NoError(t, err)
		assert.NotEmpty(t, code.Code)
		assert.True(t, code.ExpiresAt.Equal(start.Add(time.Minute)), "expiresAt: got %v, want %v", code.ExpiresAt, start.Add(time.Minute))

		bad := srv.Config()
		bad.SecretKey = "sk_test_wrong"
		c, err := fanfare.NewClient(bad)
		require.NoError(t, err)
		_, err = c.Authorize(t.Context(), fanfare.AuthorizeRequest{Provider: "shop", Issuer: "iss", Subject: "u3"})
		assert.ErrorIs(t, err, fanfare.ErrUnauthorized)
	})
}

func TestExchange(t *testing.T) {
	srv, clock := newClockedServer(t, fanfaretest.Options{})

	t.Run("success", func(t *testing.T) {
		code := authorize(t, srv, "alice")
		r := exchange(t, srv, code, "")
		require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
		got := decode[wire.ExchangeResponse](t, r)
		assert.True(t, strings.HasPrefix(got.ConsumerID, "cons_"), "consumer id %q", got.ConsumerID)
		assert.Equal(t, start.Add(time.Hour).Format(time.RFC3339), got.ExpiresAt)

		var c wire.AccessClaims
		_, err := jwt.ParseWithClaims(got.AccessToken, &c, func(*jwt.Token) (any, error) { return srv.PublicKey(), nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(clock.Now))
		require.NoError(t, err)
		assert.Equal(t, wire.AccessTokenIssuer, c.Issuer)
		assert.Equal(t, got.ConsumerID, c.ConsumerID)
		assert.Equal(t, srv.OrganizationID, c.OrganizationID)
		assert.NotEmpty(t, c.SessionID)
		assert.Equal(t, "alice@shop.example", c.Email, "the email claim is carried over")
		assert.Equal(t, start.Unix(), c.IssuedAt.Unix())
		assert.Equal(t, start.Add(time.Hour).Unix(), c.ExpiresAt.Unix())

		t.Run("code is single-use", func(t *testing.T) {
			r := exchange(t, srv, code, "")
			assert.Equal(t, http.StatusBadRequest, r.status)
			assert.Equal(t, wire.CodeInvalidExchangeCode, r.errorCode(t))
		})
		t.Run("same identity, same consumer", func(t *testing.T) {
			again := signIn(t, srv, "alice")
			assert.Equal(t, got.ConsumerID, again.ConsumerID)
			_, viaHelper := srv.AccessToken("shop", "https://shop.example", "alice")
			assert.Equal(t, got.ConsumerID, viaHelper)
		})
		t.Run("other identity, other consumer", func(t *testing.T) {
			assert.NotEqual(t, got.ConsumerID, signIn(t, srv, "bob").ConsumerID)
		})
		t.Run("conflict with the current consumer", func(t *testing.T) {
			carol := signIn(t, srv, "carol")
			code := authorize(t, srv, "alice")
			r := exchange(t, srv, code, carol.AccessToken)
			assert.Equal(t, http.StatusConflict, r.status)
			assert.Equal(t, wire.CodeConsumerConflict, r.errorCode(t))
			// The refused exchange did not use the code up.
			r = exchange(t, srv, code, got.AccessToken)
			assert.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		})
		t.Run("a new identity joins the current consumer", func(t *testing.T) {
			r := exchange(t, srv, authorize(t, srv, "alice-second-account"), got.AccessToken)
			require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
			assert.Equal(t, got.ConsumerID, decode[wire.ExchangeResponse](t, r).ConsumerID)
		})
		t.Run("an invalid bearer is ignored", func(t *testing.T) {
			r := exchange(t, srv, authorize(t, srv, "dave"), "not-a-token")
			assert.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		})
	})

	t.Run("expiry at 60 s", func(t *testing.T) {
		early, late := authorize(t, srv, "erin"), authorize(t, srv, "erin")
		clock.Advance(59 * time.Second)
		assert.Equal(t, http.StatusOK, exchange(t, srv, early, "").status, "a code 59 s old is valid")
		clock.Advance(time.Second)
		r := exchange(t, srv, late, "")
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, wire.CodeExchangeCodeExpired, r.errorCode(t))
	})

	for _, tt := range []struct {
		name, body string
		wantStatus int
		wantCode   string
	}{
		{"unknown code", `{"exchangeCode":"exc_nope"}`, http.StatusBadRequest, wire.CodeInvalidExchangeCode},
		{"no code", `{}`, http.StatusBadRequest, wire.CodeBadRequest},
		{"not JSON", `exchangeCode=x`, http.StatusBadRequest, wire.CodeBadRequest},
		{"code not a string", `{"exchangeCode":1}`, http.StatusBadRequest, wire.CodeBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, srv, wire.PathExchange, nil, tt.body)
			assert.Equal(t, tt.wantStatus, r.status, "body %s", r.body)
			assert.Equal(t, tt.wantCode, r.errorCode(t))
			assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"), "errors answer CORS too")
		})
	}

	t.Run("GET", func(t *testing.T) {
		r := do(t, srv, http.MethodGet, wire.PathExchange, nil, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status)
		assert.Equal(t, "POST", r.header.Get("Allow"))
	})
}

func TestCORSPreflight(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	for _, tt := range []struct {
		name, path string
		browser    bool
	}{
		{"exchange", wire.PathExchange, true},
		{"enter", "/queues/q1/enter", true},
		{"jwks", wire.PathJWKS, true},
		{"authorize", wire.PathAuthorize, false},
		{"validate", "/queues/q1/validate", false},
		{"complete", "/queues/q1/complete", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("Origin", "http://localhost:3000")
			h.Set("Access-Control-Request-Method", "POST")
			h.Set("Access-Control-Request-Headers", "authorization, content-type")
			r := do(t, srv, http.MethodOptions, tt.path, h, nil)
			if !tt.browser {
				assert.Equal(t, http.StatusMethodNotAllowed, r.status, "server-side endpoints refuse browsers")
				assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
				return
			}
			assert.Equal(t, http.StatusNoContent, r.status)
			assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, r.header.Get("Access-Control-Allow-Headers"), "Authorization")
			assert.Contains(t, r.header.Get("Access-Control-Allow-Headers"), "Content-Type")
			assert.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "POST")
		})
	}
	assert.Zero(t, srv.Calls(fanfaretest.EndpointExchange), "preflights are not counted")
}

func TestEnter(t *testing.T) {
	srv, clock := newClockedServer(t, fanfaretest.Options{AdmissionTTL: 5 * time.Minute})
	alice, bob := signIn(t, srv, "alice"), signIn(t, srv, "bob")
	queue := fanfare.Queue("q_drop")

	t.Run("queue positions count from 1", func(t *testing.T) {
		for i, who := range []wire.ExchangeResponse{alice, bob} {
			r := post(t, srv, "/queues/q_drop/enter", bearer(who.AccessToken), nil)
			require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
			assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
			got := decode[wire.EnterResponse](t, r)
			require.NotNil(t, got.Position)
			assert.Equal(t, i+1, *got.Position)
			assert.Equal(t, who.ConsumerID, got.ConsumerID)
			assert.Equal(t, "q_drop", got.DistributionID)
			assert.Equal(t, "queue", got.DistributionType)
			assert.Equal(t, start.Format(time.RFC3339), got.AdmittedAt)
			assert.Equal(t, start.Add(5*time.Minute).Format(time.RFC3339), got.ExpiresAt)

			c := claimsOf(t, got.AdmissionToken, &wire.AdmissionClaims{})
			assert.Equal(t, who.ConsumerID, c.ConsumerID)
			assert.Equal(t, i+1, *c.Position)
			assert.Equal(t, got.ExpiresAt, c.ExpiresAt)
			assert.NotEmpty(t, c.ID, "jti")

			ok, err := srv.Client().ValidateAdmission(t.Context(), queue, who.ConsumerID, got.AdmissionToken)
			require.NoError(t, err)
			assert.True(t, ok, "a token from /enter validates")
		}
	})

	t.Run("draws and auctions carry no position", func(t *testing.T) {
		for _, path := range []string{"/draws/d1/enter", "/auctions/a1/enter"} {
			r := post(t, srv, path, bearer(alice.AccessToken), nil)
			require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
			assert.NotContains(t, string(r.body), "position")
			assert.Nil(t, claimsOf(t, decode[wire.EnterResponse](t, r).AdmissionToken, &wire.AdmissionClaims{}).Position)
		}
	})

	other := newServer(t, fanfaretest.Options{})
	foreign, _ := other.AccessToken("shop", "iss", "alice")
	hsA := newServer(t, fanfaretest.Options{HS256Secret: []byte("shared"), OrganizationID: "org_a"})
	hsB := newServer(t, fanfaretest.Options{HS256Secret: []byte("shared"), OrganizationID: "org_b"})
	otherOrg, _ := hsA.AccessToken("shop", "iss", "alice")
	admission := srv.Admit(queue, alice.ConsumerID)
	for _, tt := range []struct {
		name   string
		srv    *fanfaretest.Server
		header http.Header
	}{
		{"no Authorization", srv, nil},
		{"not Bearer", srv, http.Header{"Authorization": {"Basic " + alice.AccessToken}}},
		{"empty bearer", srv, http.Header{"Authorization": {"Bearer "}}},
		{"tampered token", srv, bearer(alice.AccessToken[:len(alice.AccessToken)-3] + "AAA")},
		{"another emulator's token", srv, bearer(foreign)},
		{"another organization's token", hsB, bearer(otherOrg)},
		{"an admission token", srv, bearer(admission)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, tt.srv, "/queues/q_drop/enter", tt.header, nil)
			assert.Equal(t, http.StatusUnauthorized, r.status, "body %s", r.body)
			assert.Equal(t, wire.CodeUnauthorized, r.errorCode(t))
		})
	}

	t.Run("expired access token", func(t *testing.T) {
		clock.Advance(time.Hour)
		defer clock.Set(start)
		r := post(t, srv, "/queues/q_drop/enter", bearer(alice.AccessToken), nil)
		assert.Equal(t, http.StatusUnauthorized, r.status)
	})

	t.Run("GET", func(t *testing.T) {
		r := do(t, srv, http.MethodGet, "/queues/q_drop/enter", bearer(alice.AccessToken), nil)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	})
}

func TestEnterHoldEntries(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{HoldEntries: true})
	queue := fanfare.Queue("q_hold")
	alice, aliceID := srv.AccessToken("shop", "iss", "alice")
	bob, bobID := srv.AccessToken("shop", "iss", "bob")

	waiting := func(token string) wire.EnterWaitingResponse {
		t.Helper()
		r := post(t, srv, "/queues/q_hold/enter", bearer(token), nil)
		require.Equal(t, http.StatusAccepted, r.status, "body %s", r.body)
		return decode[wire.EnterWaitingResponse](t, r)
	}
	assert.Equal(t, wire.EnterWaitingResponse{Status: "waiting", ConsumerID: aliceID, DistributionID: "q_hold", DistributionType: "queue", Position: 1}, waiting(alice))
	assert.Equal(t, 2, waiting(bob).Position)
	assert.Equal(t, 1, waiting(alice).Position, "entering again keeps the place in line")

	assert.Zero(t, srv.AdmitWaiting(fanfare.Queue("q_other")))
	assert.Equal(t, 2, srv.AdmitWaiting(queue))
	assert.Zero(t, srv.AdmitWaiting(queue), "nobody is left waiting")

	for i, c := range []struct{ token, id string }{{alice, aliceID}, {bob, bobID}} {
		r := post(t, srv, "/queues/q_hold/enter", bearer(c.token), nil)
		require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
		got := decode[wire.EnterResponse](t, r)
		assert.Equal(t, c.id, got.ConsumerID)
		assert.Equal(t, i+1, *got.Position, "the admission keeps the place in line")
		ok, err := srv.Client().ValidateAdmission(t.Context(), queue, c.id, got.AdmissionToken)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	assert.Equal(t, 3, waiting(alice).Position, "after collecting the admission, entering again queues anew")
}

func TestAccessTokenHelper(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	tok, id := srv.AccessToken("shop", "iss", "u1")
	tok2, id2 := srv.AccessToken("shop", "iss", "u1")
	assert.Equal(t, id, id2)
	assert.NotEqual(t, tok, tok2, "each token has its own session")
	_, id3 := srv.AccessToken("shop", "iss", "u2")
	assert.NotEqual(t, id, id3)
	_, id4 := srv.AccessToken("other", "iss", "u1")
	assert.NotEqual(t, id, id4, "the provider is part of the identity")
	c := claimsOf(t, tok, &wire.AccessClaims{})
	assert.Equal(t, srv.OrganizationID, c.OrganizationID)
	assert.Equal(t, "consumer-app", c.Issuer)
}
