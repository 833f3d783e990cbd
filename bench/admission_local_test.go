package bench

// B1 of shared/BENCHMARKS.md: one request through the middleware into a
// no-op handler, the same valid token every time, an httptest recorder per
// request, for HS256, ES256 and EdDSA tokens of the guide's admission
// payload. Each middleware is first shown a forged token (signed with
// another key) and must refuse it; every timed request must answer 200.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/go-chi/jwtauth/v5"
	"github.com/golang-jwt/jwt/v5"

	fanfare "github.com/waitify-io/fanfare-go"
)

const (
	b1Queue  = "q_spring_drop_2026"
	b1Header = "Fanfare-Admission"
	// auth0's validator refuses a token without an issuer and an audience,
	// which admission tokens do not carry; its row gets a token with both
	// added (about 60 bytes more) and checks them.
	b1Issuer   = "https://api.fanfare.io"
	b1Audience = "fanfare-admission"
)

// b1Alg is one signing algorithm with a key pair and a key nobody trusts.
type b1Alg struct {
	name         string
	method       jwt.SigningMethod
	sign, forger any // private keys (the HMAC secret for HS256)
	verify       any // the public key (the secret for HS256)
	auth0Alg     validator.SignatureAlgorithm
}

func b1Algs(b *testing.B) []b1Alg {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ecForger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	edPub, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	_, edForger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte("b1-shared-secret-of-32-bytes-or-more!")
	return []b1Alg{
		{"HS256", jwt.SigningMethodHS256, secret, []byte("another-secret-of-32-bytes-or-more!!!"), secret, validator.HS256},
		{"ES256", jwt.SigningMethodES256, ec, ecForger, &ec.PublicKey, validator.ES256},
		{"EdDSA", jwt.SigningMethodEdDSA, ed, edForger, edPub, validator.EdDSA},
	}
}

// verifier is the fanfare Verifier for the algorithm: the HMAC secret, or
// the public key as PEM.
func (a b1Alg) verifier(b *testing.B) fanfare.Verifier {
	var v fanfare.Verifier
	var err error
	if secret, ok := a.verify.([]byte); ok {
		v, err = fanfare.NewHMACVerifier(secret)
	} else {
		v, err = fanfare.NewPEMVerifier(publicPEM(b, a.verify))
	}
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func publicPEM(b *testing.B, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		b.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func signB1(b *testing.B, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// auth0Claims is the admission payload as auth0's custom claims; Validate
// does what fanfare's distribution check does.
type auth0Claims struct {
	ConsumerID       string `json:"consumerId"`
	DistributionID   string `json:"distributionId"`
	DistributionType string `json:"distributionType"`
	Position         *int   `json:"position,omitempty"`
	AdmittedAt       string `json:"admittedAt"`
	ExpiresAt        string `json:"expiresAt"`
	Fingerprint      string `json:"fingerprint,omitempty"`
}

func (c *auth0Claims) Validate(context.Context) error {
	if c.DistributionType != "queue" || c.DistributionID != b1Queue || c.ConsumerID == "" {
		return errors.New("admission for another distribution")
	}
	return nil
}

func BenchmarkB1(b *testing.B) {
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	fromHeader := func(r *http.Request) string { return r.Header.Get(b1Header) }
	for _, alg := range b1Algs(b) {
		payload := newAdmissionPayload(b1Queue, "cons_8f2a61c0d94e7b35a1c2", time.Now())
		token := signB1(b, alg.method, alg.sign, payload)
		forged := signB1(b, alg.method, alg.forger, payload)
		withIssAud := *payload
		withIssAud.Issuer, withIssAud.Audience = b1Issuer, jwt.ClaimStrings{b1Audience}
		auth0Token := signB1(b, alg.method, alg.sign, &withIssAud)
		auth0Forged := signB1(b, alg.method, alg.forger, &withIssAud)

		fanfareMW := fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
			Distribution:            fanfare.Queue(b1Queue),
			Verifier:                alg.verifier(b),
			DisableRemoteValidation: true,
			CompleteManually:        true,
			Store:                   fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{}),
			Logger:                  slog.New(slog.DiscardHandler),
		})(noop)

		key := alg.verify
		v, err := validator.New(
			func(context.Context) (any, error) { return key, nil },
			alg.auth0Alg, b1Issuer, []string{b1Audience},
			validator.WithCustomClaims(func() validator.CustomClaims { return &auth0Claims{} }),
		)
		if err != nil {
			b.Fatal(err)
		}
		auth0MW := jwtmiddleware.New(v.ValidateToken,
			jwtmiddleware.WithTokenExtractor(func(r *http.Request) (string, error) { return fromHeader(r), nil })).CheckJWT(noop)

		var ja *jwtauth.JWTAuth
		if _, ok := alg.verify.([]byte); ok {
			ja = jwtauth.New(alg.method.Alg(), alg.verify, nil)
		} else {
			ja = jwtauth.New(alg.method.Alg(), nil, alg.verify)
		}
		jwtauthMW := jwtauth.Verify(ja, fromHeader)(jwtauth.Authenticator(ja)(noop))

		rows := []struct {
			name string
			run  func(b *testing.B)
		}{
			{"baseline", func(b *testing.B) { b1Serve(b, noop, token, "") }},
			{"floor", func(b *testing.B) {
				p := jwt.NewParser(jwt.WithValidMethods([]string{alg.method.Alg()}))
				keyfunc := func(*jwt.Token) (any, error) { return alg.verify, nil }
				if _, err := p.Parse(forged, keyfunc); err == nil {
					b.Fatal("golang-jwt accepted a forged token")
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Parse(token, keyfunc); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(token)), "token-B")
			}},
			{"fanfare", func(b *testing.B) { b1Serve(b, fanfareMW, token, forged) }},
			{"auth0", func(b *testing.B) { b1Serve(b, auth0MW, auth0Token, auth0Forged) }},
			{"jwtauth", func(b *testing.B) { b1Serve(b, jwtauthMW, token, forged) }},
		}
		for range rounds {
			for _, row := range rows {
				b.Run(alg.name+"/"+row.name, row.run)
			}
		}
	}
}

// b1Serve checks that h refuses forged (when given), then times requests
// carrying token through h, each into a fresh recorder.
func b1Serve(b *testing.B, h http.Handler, token, forged string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodPost, "/checkout", nil)
	if forged != "" {
		req.Header.Set(b1Header, forged)
		rec := httptest.NewRecorder()
		if h.ServeHTTP(rec, req); rec.Code == http.StatusOK {
			b.Fatal("a forged token was let through")
		}
	}
	req.Header.Set(b1Header, token)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d, want 200: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(len(token)), "token-B")
}
