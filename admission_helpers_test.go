package fanfare_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

// Test keys, made once per test binary.
var admKeys = sync.OnceValue(func() (k struct {
	ec   *ecdsa.PrivateKey
	ec2  *ecdsa.PrivateKey // a key nobody trusts
	ed   ed25519.PrivateKey
	rsa  *rsa.PrivateKey
	hmac []byte
}) {
	var err error
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	k.hmac = []byte("0123456789abcdef0123456789abcdef-test-secret")
	return k
})

// admEpoch is the fixed "now" of tests with a manual clock.
var admEpoch = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// admClaims is a valid admission payload for d and consumer at now.
func admClaims(d fanfare.Distribution, consumer string, now time.Time, ttl time.Duration) wire.AdmissionClaims {
	c := wire.AdmissionClaims{
		ConsumerID:       consumer,
		DistributionID:   d.ID,
		DistributionType: string(d.Type),
		AdmittedAt:       now.UTC().Format(time.RFC3339),
		ExpiresAt:        now.Add(ttl).UTC().Format(time.RFC3339),
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        "adm_test",
		},
	}
	if d.Type == fanfare.TypeQueue {
		pos := 7
		c.Position = &pos
	}
	return c
}

// admSign signs claims; kid is set when not empty.
func admSign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.Claims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// admPEM encodes a public key as a PKIX PEM block.
func admPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// newAdmClock is the manual clock every test here uses.
func newAdmClock(t time.Time) *fanfaretest.Clock { return fanfaretest.NewClock(t) }

// admResponse is what a test client saw.
type admResponse struct {
	Status     int
	Body       fanfare.ErrorBody
	Raw        string
	RetryAfter string
	Header     http.Header
}

// admDo sends req through h (recorded, no network) and decodes the answer.
func admDo(t testing.TB, h http.Handler, req *http.Request) admResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := admResponse{Status: rec.Code, Raw: rec.Body.String(), RetryAfter: rec.Header().Get("Retry-After"), Header: rec.Header()}
	if rec.Code >= 400 && rec.Header().Get("Content-Type") == "application/json" {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res.Body), "error body %q", res.Raw)
	}
	return res
}

// admRequest builds a checkout request carrying token in the admission header.
func admRequest(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/checkout", nil)
	if token != "" {
		r.Header.Set("Fanfare-Admission", token)
	}
	return r
}

// admJSONRequest builds a checkout request with a JSON body.
func admJSONRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/checkout", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// admEcho is a handler that answers 200 with the admission it sees and the
// body it could read, proving the body was restored.
func admEcho(status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := fanfare.AdmissionFromContext(r.Context())
		if !ok {
			http.Error(w, "no admission in context", http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ok": ok, "consumer": a.ConsumerID, "distribution": a.Distribution.String(),
			"position": a.Position, "verified": a.Verified, "validated": a.Validated,
			"fingerprint": a.Fingerprint, "body": string(body),
		})
	})
}
