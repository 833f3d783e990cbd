package fanfaretest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
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

// resign re-signs token's claims, changed by edit, with HS256 and key.
func resign(t *testing.T, token string, key []byte, edit func(*wire.AdmissionClaims)) string {
	t.Helper()
	c := claimsOf(t, token, &wire.AdmissionClaims{})
	edit(c)
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestValidate(t *testing.T) {
	const hsKey = "a-shared-secret-of-32-bytes-ok!!"
	clock := fanfaretest.NewClock(start)
	es := newServer(t, fanfaretest.Options{Clock: clock.Now, AdmissionTTL: 10 * time.Minute})
	hs := newServer(t, fanfaretest.Options{Clock: clock.Now, HS256Secret: []byte(hsKey)})
	other := newServer(t, fanfaretest.Options{Clock: clock.Now})
	queue := fanfare.Queue("q1")

	type tokenCase struct {
		name       string
		srv        *fanfaretest.Server
		dist       fanfare.Distribution
		consumer   string
		token      func(t *testing.T) string
		wantValid  bool
		setupClock time.Duration // advance before validating
	}
	esToken := func(t *testing.T) string { return es.Admit(queue, "c1") }
	hsToken := func(t *testing.T) string { return hs.Admit(queue, "c1") }
	tests := []tokenCase{
		{name: "valid ES256", srv: es, dist: queue, consumer: "c1", token: esToken, wantValid: true},
		{name: "valid HS256", srv: hs, dist: queue, consumer: "c1", token: hsToken, wantValid: true},
		{name: "valid draw", srv: es, dist: fanfare.Draw("d1"), consumer: "c1", wantValid: true,
			token: func(t *testing.T) string { return es.Admit(fanfare.Draw("d1"), "c1") }},
		{name: "valid auction, id with a slash", srv: es, dist: fanfare.Auction("a/1"), consumer: "c1", wantValid: true,
			token: func(t *testing.T) string { return es.Admit(fanfare.Auction("a/1"), "c1") }},
		{name: "wrong consumer", srv: es, dist: queue, consumer: "c2", token: esToken},
		{name: "wrong distribution id", srv: es, dist: fanfare.Queue("q2"), consumer: "c1", token: esToken},
		{name: "wrong distribution type", srv: es, dist: fanfare.Draw("q1"), consumer: "c1", token: esToken},
		{name: "unparsable", srv: es, dist: queue, consumer: "c1", token: func(*testing.T) string { return "not.a.jwt" }},
		{name: "tampered payload", srv: es, dist: queue, consumer: "c1", token: func(t *testing.T) string {
			parts := strings.Split(esToken(t), ".")
			c := claimsOf(t, esToken(t), &wire.AdmissionClaims{})
			c.RegisteredClaims.ExpiresAt = jwt.NewNumericDate(start.Add(24 * time.Hour))
			payload, err := json.Marshal(c)
			require.NoError(t, err)
			parts[1] = base64.RawURLEncoding.EncodeToString(payload)
			return strings.Join(parts, ".")
		}},
		{name: "tampered signature", srv: es, dist: queue, consumer: "c1", token: func(t *testing.T) string {
			// Flip a character in the middle of the signature: the last
			// base64url character of a 64-byte signature carries padding bits
			// only, so changing it may leave the decoded signature intact.
			tok := esToken(t)
			i := strings.LastIndexByte(tok, '.') + 20
			flipped := byte('A')
			if tok[i] == 'A' {
				flipped = 'B'
			}
			return tok[:i] + string(flipped) + tok[i+1:]
		}},
		{name: "signed by another emulator", srv: es, dist: queue, consumer: "c1", token: func(t *testing.T) string { return other.Admit(queue, "c1") }},
		{name: "alg none", srv: es, dist: queue, consumer: "c1", token: func(t *testing.T) string {
			c := claimsOf(t, esToken(t), &wire.AdmissionClaims{})
			s, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
			require.NoError(t, err)
			return s
		}},
		{name: "HS256 keyed with the ES256 public key (alg confusion)", srv: es, dist: queue, consumer: "c1", token: func(t *testing.T) string {
			return resign(t, esToken(t), es.PublicKeyPEM(), func(*wire.AdmissionClaims) {})
		}},
		{name: "ES256 token to an HS256 emulator", srv: hs, dist: queue, consumer: "c1", token: esToken},
		{name: "HS256 with the right secret but unknown jti", srv: hs, dist: queue, consumer: "c1", token: func(t *testing.T) string {
			return resign(t, hsToken(t), []byte(hsKey), func(c *wire.AdmissionClaims) { c.ID = "adm_forged" })
		}},
		{name: "HS256 known jti, claims moved to another consumer", srv: hs, dist: queue, consumer: "c9", token: func(t *testing.T) string {
			return resign(t, hsToken(t), []byte(hsKey), func(c *wire.AdmissionClaims) { c.ConsumerID = "c9" })
		}},
		{name: "HS256 known jti, expiresAt in the past", srv: hs, dist: queue, consumer: "c1", token: func(t *testing.T) string {
			return resign(t, hsToken(t), []byte(hsKey), func(c *wire.AdmissionClaims) {
				c.ExpiresAt = start.Add(-time.Second).Format(time.RFC3339)
			})
		}},
		{name: "HS256 known jti, no exp", srv: hs, dist: queue, consumer: "c1", token: func(t *testing.T) string {
			return resign(t, hsToken(t), []byte(hsKey), func(c *wire.AdmissionClaims) { c.RegisteredClaims.ExpiresAt = nil })
		}},
		{name: "minted already expired", srv: es, dist: queue, consumer: "c1", token: func(t *testing.T) string {
			return es.AdmitWith(fanfaretest.AdmitOptions{Distribution: queue, ConsumerID: "c1", TTL: -time.Second})
		}},
		{name: "valid one second before TTL", srv: es, dist: queue, consumer: "c1", token: esToken, setupClock: 10*time.Minute - time.Second, wantValid: true},
		{name: "expired at TTL", srv: es, dist: queue, consumer: "c1", token: esToken, setupClock: 10 * time.Minute},
		{name: "completed", srv: es, dist: fanfare.Queue("q_done"), consumer: "c1", token: func(t *testing.T) string {
			tok := es.Admit(fanfare.Queue("q_done"), "c1")
			require.NoError(t, es.Client().CompleteAdmission(t.Context(), fanfare.Queue("q_done"), "c1"))
			return tok
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(start)
			token := tt.token(t)
			clock.Advance(tt.setupClock)
			got, err := tt.srv.Client().ValidateAdmission(t.Context(), tt.dist, tt.consumer, token)
			require.NoError(t, err)
			assert.Equal(t, tt.wantValid, got)
			calls := tt.srv.ValidateCalls()
			require.NotEmpty(t, calls)
			assert.Equal(t, fanfaretest.ValidateCall{Distribution: tt.dist, ConsumerID: tt.consumer, Token: token, Valid: tt.wantValid}, calls[len(calls)-1])
		})
	}
	clock.Set(start)

	t.Run("refused requests", func(t *testing.T) {
		token := es.Admit(queue, "c1")
		wrongKey := secret(es)
		wrongKey.Set(wire.HeaderSecretKey, "sk_nope")
		for _, tt := range []struct {
			name       string
			method     string
			path       string
			header     http.Header
			body       any
			wantStatus int
			wantCode   string
		}{
			{"wrong secret key", http.MethodPost, "/queues/q1/validate", wrongKey, wire.ValidateRequest{ConsumerID: "c1", Token: token}, http.StatusUnauthorized, wire.CodeUnauthorized},
			{"no secret key", http.MethodPost, "/queues/q1/validate", nil, wire.ValidateRequest{ConsumerID: "c1", Token: token}, http.StatusUnauthorized, wire.CodeUnauthorized},
			{"not JSON", http.MethodPost, "/queues/q1/validate", secret(es), "true", http.StatusBadRequest, wire.CodeBadRequest},
			{"no token", http.MethodPost, "/queues/q1/validate", secret(es), wire.ValidateRequest{ConsumerID: "c1"}, http.StatusBadRequest, wire.CodeBadRequest},
			{"no consumer", http.MethodPost, "/queues/q1/validate", secret(es), wire.ValidateRequest{Token: token}, http.StatusBadRequest, wire.CodeBadRequest},
			{"GET", http.MethodGet, "/queues/q1/validate", secret(es), nil, http.StatusMethodNotAllowed, "method_not_allowed"},
			{"unknown collection", http.MethodPost, "/things/q1/validate", secret(es), wire.ValidateRequest{ConsumerID: "c1", Token: token}, http.StatusNotFound, wire.CodeNotFound},
			{"singular collection", http.MethodPost, "/queue/q1/validate", secret(es), wire.ValidateRequest{ConsumerID: "c1", Token: token}, http.StatusNotFound, wire.CodeNotFound},
			{"empty id", http.MethodPost, "/queues//validate", secret(es), wire.ValidateRequest{ConsumerID: "c1", Token: token}, http.StatusNotFound, wire.CodeNotFound},
			{"unknown operation", http.MethodPost, "/queues/q1/approve", secret(es), wire.ValidateRequest{ConsumerID: "c1", Token: token}, http.StatusNotFound, wire.CodeNotFound},
			{"extra segment", http.MethodPost, "/queues/q1/validate/x", secret(es), wire.ValidateRequest{ConsumerID: "c1", Token: token}, http.StatusNotFound, wire.CodeNotFound},
			{"root", http.MethodGet, "/", nil, nil, http.StatusNotFound, wire.CodeNotFound},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := do(t, es, tt.method, tt.path, tt.header, tt.body)
				assert.Equal(t, tt.wantStatus, r.status, "body %s", r.body)
				assert.Equal(t, tt.wantCode, r.errorCode(t))
				assert.NotContains(t, string(r.body), es.SecretKey)
			})
		}
	})

	t.Run("answers a bare JSON boolean", func(t *testing.T) {
		r := post(t, es, "/queues/q1/validate", secret(es), wire.ValidateRequest{ConsumerID: "c1", Token: es.Admit(queue, "c1")})
		assert.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "true", string(r.body))
		assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	})
}

func TestComplete(t *testing.T) {
	srv, clock := newClockedServer(t, fanfaretest.Options{})
	client := srv.Client()
	queue, draw := fanfare.Queue("q1"), fanfare.Draw("d1")

	first := srv.Admit(queue, "c1")
	second := srv.Admit(queue, "c1")
	drawToken := srv.Admit(draw, "c1")
	other := srv.Admit(queue, "c2")

	r := post(t, srv, "/queues/q1/complete", secret(srv), wire.CompleteRequest{ConsumerID: "c1"})
	require.Equal(t, http.StatusOK, r.status, "body %s", r.body)
	assert.JSONEq(t, `{"completed":true}`, string(r.body))
	require.NoError(t, client.CompleteAdmission(t.Context(), queue, "c1"), "completing again is harmless")

	want := []fanfaretest.Completion{{Distribution: queue, ConsumerID: "c1", At: start}, {Distribution: queue, ConsumerID: "c1", At: start}}
	assert.Equal(t, want, srv.Completions(), "both live admissions completed, once each")
	assert.Equal(t, 2, srv.Calls(fanfaretest.EndpointComplete))
	assert.True(t, srv.Completed(queue, "c1"))
	assert.False(t, srv.Completed(draw, "c1"), "another distribution is untouched")
	assert.False(t, srv.Completed(queue, "c2"), "another consumer is untouched")

	for _, tt := range []struct {
		name  string
		dist  fanfare.Distribution
		cons  string
		token string
		want  bool
	}{
		{"first admission", queue, "c1", first, false},
		{"second admission", queue, "c1", second, false},
		{"draw admission", draw, "c1", drawToken, true},
		{"other consumer", queue, "c2", other, true},
	} {
		t.Run("validate after complete: "+tt.name, func(t *testing.T) {
			got, err := client.ValidateAdmission(t.Context(), tt.dist, tt.cons, tt.token)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("unknown admission", func(t *testing.T) {
		err := client.CompleteAdmission(t.Context(), queue, "c_nobody")
		assert.ErrorIs(t, err, fanfare.ErrNotFound)
		r := post(t, srv, "/auctions/q1/complete", secret(srv), wire.CompleteRequest{ConsumerID: "c1"})
		assert.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, wire.CodeNotFound, r.errorCode(t))
	})

	t.Run("expired admission is not completed", func(t *testing.T) {
		srv.Admit(fanfare.Queue("q_exp"), "c1")
		clock.Advance(time.Hour)
		defer clock.Set(start)
		require.NoError(t, client.CompleteAdmission(t.Context(), fanfare.Queue("q_exp"), "c1"))
		assert.False(t, srv.Completed(fanfare.Queue("q_exp"), "c1"))
	})

	wrongKey := secret(srv)
	wrongKey.Set(wire.HeaderSecretKey, "sk_nope")
	for _, tt := range []struct {
		name       string
		header     http.Header
		body       any
		wantStatus int
		wantCode   string
	}{
		{"wrong secret key", wrongKey, wire.CompleteRequest{ConsumerID: "c1"}, http.StatusUnauthorized, wire.CodeUnauthorized},
		{"not JSON", secret(srv), "c1", http.StatusBadRequest, wire.CodeBadRequest},
		{"no consumer", secret(srv), "{}", http.StatusBadRequest, wire.CodeBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, srv, "/queues/q1/complete", tt.header, tt.body)
			assert.Equal(t, tt.wantStatus, r.status, "body %s", r.body)
			assert.Equal(t, tt.wantCode, r.errorCode(t))
		})
	}
}

func TestAdmitWith(t *testing.T) {
	srv, _ := newClockedServer(t, fanfaretest.Options{AdmissionTTL: time.Minute})
	queue := fanfare.Queue("q1")

	c := claimsOf(t, srv.AdmitWith(fanfaretest.AdmitOptions{
		Distribution: queue, ConsumerID: "c1", Fingerprint: "fp_1", Position: 42, TTL: 2 * time.Hour,
	}), &wire.AdmissionClaims{})
	assert.Equal(t, "fp_1", c.Fingerprint)
	assert.Equal(t, 42, *c.Position)
	assert.Equal(t, start.Add(2*time.Hour).Format(time.RFC3339), c.ExpiresAt)
	assert.Equal(t, start.Add(2*time.Hour).Unix(), c.RegisteredClaims.ExpiresAt.Unix())
	assert.Equal(t, start.Unix(), c.IssuedAt.Unix())
	assert.Equal(t, start.Format(time.RFC3339), c.AdmittedAt)

	c = claimsOf(t, srv.Admit(queue, "c2"), &wire.AdmissionClaims{})
	assert.Equal(t, 1, *c.Position, "Admit takes the next place in line")
	assert.Empty(t, c.Fingerprint)
	assert.Equal(t, start.Add(time.Minute).Format(time.RFC3339), c.ExpiresAt, "default TTL is Options.AdmissionTTL")
	assert.Equal(t, 2, *claimsOf(t, srv.Admit(queue, "c3"), &wire.AdmissionClaims{}).Position)

	c = claimsOf(t, srv.AdmitWith(fanfaretest.AdmitOptions{Distribution: fanfare.Draw("d"), ConsumerID: "c1", Position: 3}), &wire.AdmissionClaims{})
	assert.Nil(t, c.Position, "draw tokens carry no position")
	assert.Equal(t, "draw", c.DistributionType)

	for _, tt := range []struct {
		name string
		o    fanfaretest.AdmitOptions
	}{
		{"no consumer", fanfaretest.AdmitOptions{Distribution: queue}},
		{"no distribution id", fanfaretest.AdmitOptions{Distribution: fanfare.Queue(""), ConsumerID: "c"}},
		{"unknown type", fanfaretest.AdmitOptions{Distribution: fanfare.Distribution{Type: "raffle", ID: "r"}, ConsumerID: "c"}},
	} {
		t.Run("panics: "+tt.name, func(t *testing.T) {
			assertPanicsFanfare(t, func() { srv.AdmitWith(tt.o) })
		})
	}
}

// assertPanicsFanfare checks that f panics with a string starting
// "fanfare: ", as the package's programmer-error panics do.
func assertPanicsFanfare(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		v := recover()
		require.NotNil(t, v, "no panic")
		s, ok := v.(string)
		require.True(t, ok, "panic value %v is not a string", v)
		assert.True(t, strings.HasPrefix(s, "fanfare: "), "panic %q must start with fanfare: ", s)
	}()
	f()
}

func TestJWKS(t *testing.T) {
	srv := newServer(t, fanfaretest.Options{})
	r := do(t, srv, http.MethodGet, wire.PathJWKS, nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "public, max-age=300", r.header.Get("Cache-Control"))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	jwks := decode[wire.JWKS](t, r)
	require.Len(t, jwks.Keys, 1)
	k := jwks.Keys[0]
	assert.Equal(t, wire.JWK{Kty: "EC", Crv: "P-256", X: k.X, Y: k.Y, Kid: srv.KeyID(), Alg: "ES256", Use: "sig"}, k)
	assert.NotEmpty(t, srv.KeyID())
	assert.Equal(t, srv.URL+"/.well-known/jwks.json", srv.JWKSURL())

	coord := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		require.Len(t, b, 32)
		return new(big.Int).SetBytes(b)
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: coord(k.X), Y: coord(k.Y)}

	t.Run("verifies a minted token", func(t *testing.T) {
		token := srv.Admit(fanfare.Queue("q1"), "c1")
		var c wire.AdmissionClaims
		parsed, err := jwt.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
			assert.Equal(t, k.Kid, tok.Header["kid"])
			return pub, nil
		}, jwt.WithValidMethods([]string{"ES256"}))
		require.NoError(t, err)
		assert.True(t, parsed.Valid)
		assert.Equal(t, "c1", c.ConsumerID)
	})

	t.Run("PublicKey and PEM match", func(t *testing.T) {
		got, ok := srv.PublicKey().(*ecdsa.PublicKey)
		require.True(t, ok)
		assert.True(t, got.Equal(pub))
		block, _ := pem.Decode(srv.PublicKeyPEM())
		require.NotNil(t, block)
		assert.Equal(t, "PUBLIC KEY", block.Type)
		parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
		require.NoError(t, err)
		assert.True(t, pub.Equal(parsed))
	})

	t.Run("HEAD", func(t *testing.T) {
		r := do(t, srv, http.MethodHead, wire.PathJWKS, nil, nil)
		assert.Equal(t, http.StatusOK, r.status)
	})
	t.Run("POST", func(t *testing.T) {
		r := post(t, srv, wire.PathJWKS, nil, "{}")
		assert.Equal(t, http.StatusMethodNotAllowed, r.status)
	})
	t.Run("counted", func(t *testing.T) {
		assert.Equal(t, 3, srv.Calls(fanfaretest.EndpointJWKS))
	})
}

func TestHS256Mode(t *testing.T) {
	secretKey := []byte("hs256-shared-secret-for-the-test")
	srv := newServer(t, fanfaretest.Options{HS256Secret: secretKey})
	assert.Nil(t, srv.PublicKey())
	assert.Nil(t, srv.PublicKeyPEM())
	assert.Empty(t, srv.KeyID())

	r := do(t, srv, http.MethodGet, wire.PathJWKS, nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"keys":[]}`, string(r.body))

	for name, token := range map[string]string{
		"admission": srv.Admit(fanfare.Queue("q1"), "c1"),
		"access":    func() string { tok, _ := srv.AccessToken("p", "i", "s"); return tok }(),
	} {
		t.Run(name, func(t *testing.T) {
			parsed, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return secretKey, nil }, jwt.WithValidMethods([]string{"HS256"}))
			require.NoError(t, err)
			assert.Equal(t, "HS256", parsed.Method.Alg())
			assert.NotContains(t, parsed.Header, "kid")
		})
	}
	ok, err := srv.Client().ValidateAdmission(t.Context(), fanfare.Queue("q1"), "c1", srv.Admit(fanfare.Queue("q1"), "c1"))
	require.NoError(t, err)
	assert.True(t, ok)
}
