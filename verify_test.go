package fanfare_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// admVerifies reports whether a local-only middleware with v admits token.
func admVerifies(t *testing.T, v fanfare.Verifier, token string) int {
	t.Helper()
	h := fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
		Distribution:            admQueue,
		Verifier:                v,
		DisableRemoteValidation: true,
		Clock:                   func() time.Time { return admEpoch },
		Logger:                  slog.New(slog.DiscardHandler),
	})(admEcho(http.StatusOK))
	return admDo(t, h, admRequest(token)).Status
}

func admValidClaims() jwt.Claims {
	c := admClaims(admQueue, "c_v", admEpoch, 10*time.Minute)
	return &c
}

func TestNewHMACVerifier(t *testing.T) {
	_, err := fanfare.NewHMACVerifier([]byte("short"))
	require.EqualError(t, err, "fanfare: HMAC secret is 5 bytes; at least 32 are required")

	secret := admKeys().hmac
	v, err := fanfare.NewHMACVerifier(secret)
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assert.NotContains(t, fmt.Sprintf(verb, v), string(secret[:16]), verb)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "verifier", v)
	assert.NotContains(t, logged.String(), string(secret[:16]))

	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		t.Run(m.Alg(), func(t *testing.T) {
			assert.Equal(t, 200, admVerifies(t, v, admSign(t, m, secret, admValidClaims(), "")))
			assert.Equal(t, 403, admVerifies(t, v, admSign(t, m, append([]byte("x"), secret...), admValidClaims(), "")))
		})
	}
	t.Run("the caller's slice is copied", func(t *testing.T) {
		s := append([]byte(nil), secret...)
		v, err := fanfare.NewHMACVerifier(s)
		require.NoError(t, err)
		s[0] ^= 0xff
		assert.Equal(t, 200, admVerifies(t, v, admSign(t, jwt.SigningMethodHS256, secret, admValidClaims(), "")))
	})
}

func TestNewPEMVerifier(t *testing.T) {
	k := admKeys()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	cert := admCertificatePEM(t, k.ec)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})

	tests := []struct {
		name   string
		pem    []byte
		method jwt.SigningMethod
		key    any
		want   int
	}{
		{"ES256", admPEM(t, &k.ec.PublicKey), jwt.SigningMethodES256, k.ec, 200},
		{"ES256 by another key", admPEM(t, &k.ec.PublicKey), jwt.SigningMethodES256, k.ec2, 403},
		{"ES384", admPEM(t, &p384.PublicKey), jwt.SigningMethodES384, p384, 200},
		{"ES384 token, P-256 key", admPEM(t, &k.ec.PublicKey), jwt.SigningMethodES384, p384, 403},
		{"EdDSA", admPEM(t, k.ed.Public()), jwt.SigningMethodEdDSA, k.ed, 200},
		{"RS256", admPEM(t, &k.rsa.PublicKey), jwt.SigningMethodRS256, k.rsa, 200},
		{"PS512", admPEM(t, &k.rsa.PublicKey), jwt.SigningMethodPS512, k.rsa, 200},
		{"RS256 from PKCS #1", pkcs1, jwt.SigningMethodRS256, k.rsa, 200},
		{"ES256 from a certificate", cert, jwt.SigningMethodES256, k.ec, 200},
		{"two keys, the second signs", append(admPEM(t, &k.ec2.PublicKey), admPEM(t, &k.ec.PublicKey)...), jwt.SigningMethodES256, k.ec, 200},
		{"confusion: HS256 keyed with the PEM", admPEM(t, &k.ec.PublicKey), jwt.SigningMethodHS256, admPEM(t, &k.ec.PublicKey), 403},
		{"confusion: HS256 keyed with the RSA PEM", admPEM(t, &k.rsa.PublicKey), jwt.SigningMethodHS256, admPEM(t, &k.rsa.PublicKey), 403},
		{"alg none", admPEM(t, &k.ec.PublicKey), jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := fanfare.NewPEMVerifier(tc.pem)
			require.NoError(t, err)
			assert.Equal(t, tc.want, admVerifies(t, v, admSign(t, tc.method, tc.key, admValidClaims(), "")))
		})
	}

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	ecPriv, err := x509.MarshalECPrivateKey(k.ec)
	require.NoError(t, err)
	refused := []struct {
		name, pem, want string
	}{
		{"empty", "", "no PEM public key found"},
		{"not PEM", "-----BEGIN nonsense", "no PEM public key found"},
		{"private key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecPriv})), "private key"},
		{"small RSA", string(admPEM(t, &small.PublicKey)), "at least 2048"},
		{"unknown block", string(pem.EncodeToMemory(&pem.Block{Type: "SECRET", Bytes: []byte{1}})), "unsupported PEM block"},
		{"broken key", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})), "parsing PEM"},
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := fanfare.NewPEMVerifier([]byte(tc.pem))
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare: "), err.Error())
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func admCertificatePEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fanfare test"},
		NotBefore: admEpoch.Add(-time.Hour), NotAfter: admEpoch.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// jwksServer serves a mutable key set and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	status  int
	fetched []time.Time
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetched = append(s.fetched, time.Now())
		s.fetches.Add(1)
		w.WriteHeader(s.status)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

// times returns when each fetch arrived.
func (s *jwksServer) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fetched)
}

func (s *jwksServer) set(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

var b64 = base64.RawURLEncoding.EncodeToString

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]string {
	size := (pub.Curve.Params().BitSize + 7) / 8
	return map[string]string{"kty": "EC", "crv": pub.Curve.Params().Name, "kid": kid, "use": "sig",
		"x": b64(pub.X.FillBytes(make([]byte, size))), "y": b64(pub.Y.FillBytes(make([]byte, size)))}
}

func edJWK(kid string, pub ed25519.PublicKey) map[string]string {
	return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pub)}
}

func rsaJWK(kid string, pub *rsa.PublicKey, alg string) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "alg": alg, "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

// jwksVerifier builds a verifier for url that is closed with the test.
func jwksVerifier(t *testing.T, url string, opts fanfare.JWKSOptions) *fanfare.JWKSVerifier {
	t.Helper()
	v, err := fanfare.NewJWKSVerifier(context.Background(), url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// TestJWKSVerifierEmulator verifies the emulator's tokens with the key set it
// publishes, and keeps the keys through every fault of its JWKS endpoint.
func TestJWKSVerifierEmulator(t *testing.T) {
	k := admKeys()
	srv := fanfaretest.NewServer(fanfaretest.Options{Clock: newAdmClock(admEpoch).Now})
	defer srv.Close()
	refreshes := &refreshLog{}
	v := jwksVerifier(t, srv.JWKSURL(), fanfare.JWKSOptions{
		HTTPClient:         &http.Client{Timeout: 200 * time.Millisecond},
		UnknownKIDInterval: time.Nanosecond, // every unknown kid refetches
		Logger:             slog.New(refreshes),
	})
	require.Equal(t, 1, srv.Calls(fanfaretest.EndpointJWKS))

	admitted := srv.Admit(admQueue, "c_v")
	pubPEM := srv.PublicKeyPEM()
	claims := admValidClaims()
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"a token the emulator signed", admitted, 200},
		{"another key under the emulator's kid", admSign(t, jwt.SigningMethodES256, k.ec, claims, srv.KeyID()), 403},
		{"another key, no kid", admSign(t, jwt.SigningMethodES256, k.ec, claims, ""), 403},
		{"confusion: HS256 keyed with the published PEM", admSign(t, jwt.SigningMethodHS256, pubPEM, claims, srv.KeyID()), 403},
		{"confusion: HS256 keyed with the PEM, no kid", admSign(t, jwt.SigningMethodHS256, pubPEM, claims, ""), 403},
		{"alg none", admSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims, srv.KeyID()), 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, admVerifies(t, v, tc.token))
		})
	}

	faults := []struct {
		name  string
		fault fanfaretest.Fault
		want  string
	}{
		{"oversized", fanfaretest.Fault{Oversized: true}, "exceeds 524288 bytes"},
		{"malformed", fanfaretest.Fault{Malformed: true}, "decode"},
		{"503", fanfaretest.Fault{Status: http.StatusServiceUnavailable}, "503"},
		{"dropped", fanfaretest.Fault{Drop: true}, "EOF"},
		{"slow", fanfaretest.Fault{Latency: time.Minute}, timedOut},
	}
	rotated := admSign(t, jwt.SigningMethodES256, k.ec, claims, "rotated")
	for _, tc := range faults {
		t.Run("refresh fails, keys stay: "+tc.name, func(t *testing.T) {
			srv.InjectFault(fanfaretest.EndpointJWKS, tc.fault)
			defer srv.ClearFaults()
			calls := srv.Calls(fanfaretest.EndpointJWKS)
			start := time.Now()
			assert.Equal(t, 403, admVerifies(t, v, rotated), "an unknown kid refetches, and fails")
			assert.Less(t, time.Since(start), 5*time.Second, "the client's Timeout bounds the fetch")
			assert.Greater(t, srv.Calls(fanfaretest.EndpointJWKS), calls, "the unknown kid was fetched for")
			msg, err := refreshes.last()
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(msg, "fanfare: JWKS "), msg)
			assertFetchError(t, err, tc.want)
			assert.Equal(t, 200, admVerifies(t, v, admitted))
		})
	}
}

// refreshLog is a slog.Handler keeping the message and error of the last
// record: a verifier's failed refresh.
type refreshLog struct {
	mu  sync.Mutex
	msg string
	err error
}

func (*refreshLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *refreshLog) WithAttrs([]slog.Attr) slog.Handler     { return l }
func (l *refreshLog) WithGroup(string) slog.Handler          { return l }

func (l *refreshLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msg, l.err = r.Message, nil
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			l.err = err
		}
		return true
	})
	return nil
}

func (l *refreshLog) last() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg, l.err
}

func TestJWKSVerifier(t *testing.T) {
	k := admKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	srv := newJWKSServer(t,
		ecJWK("ec-1", &k.ec.PublicKey),
		edJWK("ed-1", k.ed.Public().(ed25519.PublicKey)),
		rsaJWK("rsa-1", &k.rsa.PublicKey, "RS256"),
		rsaJWK("rsa-small", &small.PublicKey, ""),
		map[string]string{"kty": "oct", "kid": "hmac-1", "k": b64(k.hmac)},
		withUse(ecJWK("enc-1", &k.ec2.PublicKey), "enc"),
	)
	v := jwksVerifier(t, srv.URL, fanfare.JWKSOptions{UnknownKIDInterval: time.Hour})
	require.EqualValues(t, 1, srv.fetches.Load())

	claims := admValidClaims()
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
		want   int
	}{
		{"ES256 with its kid", jwt.SigningMethodES256, k.ec, "ec-1", 200},
		{"ES256 without kid", jwt.SigningMethodES256, k.ec, "", 200},
		{"EdDSA with its kid", jwt.SigningMethodEdDSA, k.ed, "ed-1", 200},
		{"EdDSA without kid", jwt.SigningMethodEdDSA, k.ed, "", 200},
		{"RS256 with its kid", jwt.SigningMethodRS256, k.rsa, "rsa-1", 200},
		{"PS256 on a key pinned to RS256", jwt.SigningMethodPS256, k.rsa, "rsa-1", 403},
		{"RS256 by a 1024-bit key", jwt.SigningMethodRS256, small, "rsa-small", 403},
		{"RS256 by a 1024-bit key, no kid", jwt.SigningMethodRS256, small, "", 403},
		{"ES256 naming the Ed25519 kid", jwt.SigningMethodES256, k.ec, "ed-1", 403},
		{"ES256 by an untrusted key", jwt.SigningMethodES256, k.ec2, "ec-1", 403},
		{"ES256 by a key published for encryption", jwt.SigningMethodES256, k.ec2, "enc-1", 403},
		{"ES256 by a key published for encryption, no kid", jwt.SigningMethodES256, k.ec2, "", 403},
		{"HS256 with the published oct key", jwt.SigningMethodHS256, k.hmac, "hmac-1", 403},
		{"HS256 with the published oct key, no kid", jwt.SigningMethodHS256, k.hmac, "", 403},
		{"HS256 keyed with the EC JWK", jwt.SigningMethodHS256, []byte(fmt.Sprint(ecJWK("ec-1", &k.ec.PublicKey))), "ec-1", 403},
		{"alg none", jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "ec-1", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, admVerifies(t, v, admSign(t, tc.method, tc.key, claims, tc.kid)))
		})
	}
	require.EqualValues(t, 1, srv.fetches.Load(), "only known kids so far")
	t.Run("Keyfunc pins each key to its kind", func(t *testing.T) {
		for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodES384, jwt.SigningMethodPS256} {
			_, err := v.Keyfunc(&jwt.Token{Method: m, Header: map[string]any{"alg": m.Alg(), "kid": "ec-1"}})
			assert.Error(t, err, m.Alg())
			_, err = v.Keyfunc(&jwt.Token{Method: m, Header: map[string]any{"alg": m.Alg()}})
			assert.Error(t, err, m.Alg())
		}
	})
}

func withUse(jwk map[string]string, use string) map[string]string {
	jwk["use"] = use
	return jwk
}

func TestJWKSVerifierUnknownKID(t *testing.T) {
	k := admKeys()
	claims := admValidClaims()
	rotated := admSign(t, jwt.SigningMethodES256, k.ec2, claims, "ec-2")

	t.Run("one refetch, then refused without a fetch", func(t *testing.T) {
		srv := newJWKSServer(t, ecJWK("ec-1", &k.ec.PublicKey))
		v := jwksVerifier(t, srv.URL, fanfare.JWKSOptions{UnknownKIDInterval: time.Hour})
		assert.Equal(t, 403, admVerifies(t, v, rotated))
		require.EqualValues(t, 2, srv.fetches.Load(), "the unknown kid refetched once")

		start := time.Now()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { assert.Equal(t, 403, admVerifies(t, v, rotated)) })
		}
		wg.Wait()
		assert.Less(t, time.Since(start), 5*time.Second, "refused at once, not queued for the limiter")
		assert.EqualValues(t, 2, srv.fetches.Load(), "no refetch within UnknownKIDInterval")

		// The key appears, but the interval is not over: still refused
		// without a fetch until the next background refresh.
		srv.set(ecJWK("ec-1", &k.ec.PublicKey), ecJWK("ec-2", &k.ec2.PublicKey))
		assert.Equal(t, 403, admVerifies(t, v, rotated))
		assert.EqualValues(t, 2, srv.fetches.Load())
	})

	t.Run("rotation after the interval", func(t *testing.T) {
		const gap = 50 * time.Millisecond
		srv := newJWKSServer(t, ecJWK("ec-1", &k.ec.PublicKey))
		v := jwksVerifier(t, srv.URL, fanfare.JWKSOptions{UnknownKIDInterval: gap})
		start := time.Now() // before the limiter's first turn
		assert.Equal(t, 403, admVerifies(t, v, rotated))
		require.EqualValues(t, 2, srv.fetches.Load())

		srv.set(ecJWK("ec-1", &k.ec.PublicKey), ecJWK("ec-2", &k.ec2.PublicKey))
		assert.Equal(t, 200, admVerifies(t, v, rotated), "waits for its turn, refetches, passes")
		require.EqualValues(t, 3, srv.fetches.Load())
		assert.GreaterOrEqual(t, srv.times()[2].Sub(start), gap, "the second refetch waited for UnknownKIDInterval")
		assert.Equal(t, 200, admVerifies(t, v, rotated))
		assert.EqualValues(t, 3, srv.fetches.Load(), "known now: no fetch")
		assert.Equal(t, 200, admVerifies(t, v, admSign(t, jwt.SigningMethodES256, k.ec, claims, "ec-1")))
	})

	t.Run("a revoked key stops verifying", func(t *testing.T) {
		srv := newJWKSServer(t, ecJWK("ec-1", &k.ec.PublicKey), ecJWK("ec-2", &k.ec2.PublicKey))
		v := jwksVerifier(t, srv.URL, fanfare.JWKSOptions{UnknownKIDInterval: time.Hour, RefreshInterval: 5 * time.Millisecond})
		assert.Equal(t, 200, admVerifies(t, v, rotated))
		srv.set(ecJWK("ec-1", &k.ec.PublicKey))
		// The refresh loop is sequential: once two fetches started after
		// the revocation, the first one's key set is in use.
		n := srv.fetches.Load()
		require.Eventually(t, func() bool { return srv.fetches.Load() >= n+2 }, 5*time.Second, time.Millisecond)
		assert.Equal(t, 403, admVerifies(t, v, rotated))
	})
}

func TestJWKSVerifierBackgroundRefresh(t *testing.T) {
	k := admKeys()
	srv := newJWKSServer(t, ecJWK("ec-1", &k.ec.PublicKey))
	ctx, cancel := context.WithCancel(context.Background())
	v, err := fanfare.NewJWKSVerifier(ctx, srv.URL, fanfare.JWKSOptions{RefreshInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	srv.set(ecJWK("ec-2", &k.ec2.PublicKey))
	// The ticker is real time: wait for the refresh to swap the keys in.
	tok := admSign(t, jwt.SigningMethodES256, k.ec2, admValidClaims(), "ec-2")
	require.Eventually(t, func() bool { return srv.fetches.Load() >= 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 200, admVerifies(t, v, tok))

	cancel() // the context ends the refresh goroutine; Close waits for it
	done := make(chan struct{})
	go func() { _ = v.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the context was cancelled")
	}
	require.NoError(t, v.Close(), "Close is idempotent")
	assert.Equal(t, 200, admVerifies(t, v, tok), "keys stay usable after Close")
}

func TestJWKSVerifierCloseLeavesNothingRunning(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	k := admKeys()
	srv := newJWKSServer(t, ecJWK("ec-1", &k.ec.PublicKey))
	v, err := fanfare.NewJWKSVerifier(context.Background(), srv.URL, fanfare.JWKSOptions{RefreshInterval: time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, 403, admVerifies(t, v, admSign(t, jwt.SigningMethodES256, k.ec2, admValidClaims(), "ec-2")))
	require.Eventually(t, func() bool { return srv.fetches.Load() >= 4 }, 5*time.Second, time.Millisecond)
	require.NoError(t, v.Close())
	// A fetch the loop started just before Close may still reach the server
	// after Close returns (the request was on the wire before it was
	// cancelled), so the proof is that nothing of the verifier is left
	// running to start another: the refresh loop and every connection it
	// opened are gone once the server's own goroutines are.
	srv.Close()
	goleak.VerifyNone(t, ignore)
}

func TestNewJWKSVerifierRefuses(t *testing.T) {
	k := admKeys()
	ctx := context.Background()
	serve := func(t *testing.T, h http.HandlerFunc) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	big := `{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name string
		url  func(t *testing.T) string
		opts fanfare.JWKSOptions
		want string
	}{
		{"plain http to a remote host", func(*testing.T) string { return "http://keys.example.com/jwks.json" }, fanfare.JWKSOptions{}, "must be https"},
		{"not a URL", func(*testing.T) string { return "::" }, fanfare.JWKSOptions{}, "must be https"},
		{"negative interval", func(t *testing.T) string { return newJWKSServer(t).URL }, fanfare.JWKSOptions{UnknownKIDInterval: -1}, "negative"},
		{"non-200", func(t *testing.T) string {
			s := newJWKSServer(t, ecJWK("a", &k.ec.PublicKey))
			s.status = http.StatusNotFound
			return s.URL
		}, fanfare.JWKSOptions{}, "404"},
		{"no usable key", func(t *testing.T) string {
			return newJWKSServer(t, map[string]string{"kty": "oct", "k": "AAAA"}, withUse(ecJWK("enc", &k.ec.PublicKey), "enc")).URL
		}, fanfare.JWKSOptions{}, "no usable signature key"},
		{"a malformed key spoils the set", func(t *testing.T) string {
			return newJWKSServer(t, ecJWK("ec-1", &k.ec.PublicKey),
				map[string]string{"kty": "EC", "crv": "P-256", "kid": "off-curve", "x": b64(make([]byte, 32)), "y": b64(make([]byte, 32))}).URL
		}, fanfare.JWKSOptions{}, "not on the specified curve"},
		{"not JSON", func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) })
		}, fanfare.JWKSOptions{}, "decode"},
		{"oversized, streamed", func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(big)) })
		}, fanfare.JWKSOptions{}, "exceeds 524288 bytes"},
		{"oversized, announced", func(t *testing.T) string {
			return serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				_, _ = w.Write([]byte(big))
			})
		}, fanfare.JWKSOptions{}, "exceeds 524288 bytes"},
		{"slow", func(t *testing.T) string {
			release := make(chan struct{})
			url := serve(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
			t.Cleanup(func() { close(release) })
			return url
		}, fanfare.JWKSOptions{HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}}, timedOut},
		{"unreachable", func(*testing.T) string { return "http://127.0.0.1:1/jwks.json" }, fanfare.JWKSOptions{}, "fanfare: JWKS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			v, err := fanfare.NewJWKSVerifier(ctx, tc.url(t), tc.opts)
			require.Error(t, err)
			assert.Nil(t, v)
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.True(t, strings.HasPrefix(err.Error(), "fanfare: "), err.Error())
			assertFetchError(t, err, tc.want)
		})
	}
}

// timedOut stands for a timeout error in assertFetchError.
const timedOut = "(timeout)"

// assertFetchError checks that err says want, or is a timeout for timedOut.
func assertFetchError(t *testing.T, err error, want string) {
	t.Helper()
	if want == timedOut {
		var ne net.Error
		assert.True(t, errors.As(err, &ne) && ne.Timeout(), "want a timeout, got %v", err)
		return
	}
	assert.Contains(t, err.Error(), want)
}

// FuzzJWKSVerifier serves arbitrary key sets and checks our rule on top of
// jwkset's parsing: whatever the set holds, Keyfunc hands out only keys of
// the token's algorithm's kind, and never a key for HMAC or "none".
func FuzzJWKSVerifier(f *testing.F) {
	k := admKeys()
	set := func(keys ...map[string]string) string {
		raw, err := json.Marshal(map[string]any{"keys": keys})
		require.NoError(f, err)
		return string(raw)
	}
	algs := []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "none"}
	alg := func(name string) uint8 { return uint8(slices.Index(algs, name)) }
	f.Add(set(ecJWK("a", &k.ec.PublicKey), edJWK("b", k.ed.Public().(ed25519.PublicKey))), alg("ES256"), "a")
	f.Add(set(rsaJWK("r", &k.rsa.PublicKey, "")), alg("PS512"), "")
	f.Add(set(map[string]string{"kty": "oct", "kid": "h", "k": b64(k.hmac)}, ecJWK("h2", &k.ec.PublicKey)), alg("HS256"), "h")
	f.Add(set(ecJWK("a", &k.ec.PublicKey)), alg("EdDSA"), "a")
	f.Add(`{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}]}`, alg("ES384"), "")

	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()

	f.Fuzz(func(t *testing.T, jwks string, algIndex uint8, kid string) {
		alg := algs[int(algIndex)%len(algs)]
		m := jwt.GetSigningMethod(alg)
		body.Store(jwks)
		v, err := fanfare.NewJWKSVerifier(context.Background(), srv.URL, fanfare.JWKSOptions{UnknownKIDInterval: time.Hour})
		if err != nil {
			return
		}
		defer v.Close()
		header := map[string]any{"alg": alg}
		if kid != "" {
			header["kid"] = kid
		}
		key, err := v.Keyfunc(&jwt.Token{Method: m, Header: header})
		if err != nil {
			return
		}
		keys := []jwt.VerificationKey{key}
		if s, ok := key.(jwt.VerificationKeySet); ok {
			keys = s.Keys
		}
		require.NotEmpty(t, keys)
		for _, key := range keys {
			assert.True(t, fitsAlgorithm(key, alg), "%s got a %T", alg, key)
		}
	})
}

// fitsAlgorithm is the rule, written out plainly: which key types may verify alg.
func fitsAlgorithm(key any, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg] == k.Curve.Params().Name
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *rsa.PublicKey:
		return k.N.BitLen() >= 2048 && (strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS"))
	}
	return false
}

// TestVerifiersAreComparable: a Verifier can be compared with == or used as
// a map key (a cache of guards by verifier), as 0.1's were: an interface
// holding a slice would panic there.
func TestVerifiersAreComparable(t *testing.T) {
	k := admKeys()
	pemV, err := fanfare.NewPEMVerifier(admPEM(t, &k.ec.PublicKey))
	require.NoError(t, err)
	hmacV, err := fanfare.NewHMACVerifier(k.hmac)
	require.NoError(t, err)
	for _, v := range []fanfare.Verifier{pemV, hmacV} {
		require.NotPanics(t, func() {
			same := v
			assert.True(t, v == same)
			seen := map[fanfare.Verifier]bool{v: true}
			assert.True(t, seen[same])
		}, "%T", v)
	}
}

// TestJWKSVerifierLogsNoURLPassword: a key set behind basic auth is named
// in the logs without its password.
func TestJWKSVerifierLogsNoURLPassword(t *testing.T) {
	srv := fanfaretest.NewServer(fanfaretest.Options{Clock: newAdmClock(admEpoch).Now})
	defer srv.Close()
	logger, logs := newLogger()
	withAuth := strings.Replace(srv.JWKSURL(), "http://", "http://shop:s3cret-pw@", 1)
	v := jwksVerifier(t, withAuth, fanfare.JWKSOptions{
		UnknownKIDInterval: time.Nanosecond,
		Logger:             logger,
	})
	srv.InjectFault(fanfaretest.EndpointJWKS, fanfaretest.Fault{Status: http.StatusServiceUnavailable})
	rotated := admSign(t, jwt.SigningMethodES256, admKeys().ec, admValidClaims(), "rotated")
	assert.Equal(t, 403, admVerifies(t, v, rotated), "an unknown kid refetches, and fails")
	require.Contains(t, logs.String(), "JWKS refresh", "the failed refetch is logged")
	assert.NotContains(t, logs.String(), "s3cret-pw")
}
