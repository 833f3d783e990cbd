package fanfare_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
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

// admSignRaw signs header and payload, JSON written by hand (so they may
// repeat a name or carry what golang-jwt would never write), with HS256 and
// the test secret.
func admSignRaw(t testing.TB, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(header)) + "." + enc([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, admKeys().hmac)
	require.NoError(t, err)
	return signing + "." + enc(sig)
}

// admGuards builds two middlewares in front of admEcho at admEpoch, for
// admQueue, with manual completion (every admitted request is released, so
// a token can be replayed):
//   - local verifies HS256 tokens with the test secret, without Fanfare,
//     and also reads the token from the cookie "adm";
//   - hinted has no verifier and a client whose Fanfare is unreachable, so
//     it admits nothing: a token it refuses with 403 was refused before
//     Fanfare was asked, one it would ask about gets 503.
//
// Both log their refusals to refusals, when it is not nil.
func admGuards(t testing.TB, refusals *admRefusals) (local, hinted http.Handler) {
	t.Helper()
	v, err := fanfare.NewHMACVerifier(admKeys().hmac)
	require.NoError(t, err)
	opts := fanfare.AdmissionOptions{
		Distribution:     admQueue,
		Clock:            func() time.Time { return admEpoch },
		Logger:           slog.New(slog.DiscardHandler),
		CompleteManually: true,
	}
	if refusals != nil {
		opts.Logger = slog.New(refusals)
	}
	lo := opts
	lo.Verifier, lo.DisableRemoteValidation = v, true
	admAlsoCookie(&lo, "adm")
	lo.Store = fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: lo.Clock})
	local = fanfare.RequireAdmission(nil, lo)(admEcho(http.StatusOK))

	client, err := fanfare.NewClient(fanfare.Config{
		APIURL: "http://127.0.0.1:1", OrganizationID: "org_test", SecretKey: "sk_test_unreachable",
		Retry: fanfare.RetryPolicy{MaxAttempts: 1},
	})
	require.NoError(t, err)
	hi := opts
	hi.Store = fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: hi.Clock})
	hinted = fanfare.RequireAdmission(client, hi)(admEcho(http.StatusOK))
	return local, hinted
}

// admAlsoCookie makes o read the token from the cookie name besides the
// default header and body field.
func admAlsoCookie(o *fanfare.AdmissionOptions, name string) {
	o.Token = fanfare.TokenFrom(fanfare.HeaderToken("Fanfare-Admission"), fanfare.CookieToken(name), fanfare.BodyToken("admissionToken"))
}

// admDistributionFunc makes o take the distribution from f.
func admDistributionFunc(o *fanfare.AdmissionOptions, f func(*http.Request) (fanfare.Distribution, error)) {
	o.Distribution = fanfare.DistributionFunc(f)
}

// admRefusals is a slog.Handler that keeps the cause of each refusal
// RequireAdmission logs ("fanfare: admission refused", at debug level).
type admRefusals struct {
	mu     sync.Mutex
	causes []string
}

func (*admRefusals) Enabled(context.Context, slog.Level) bool { return true }

func (l *admRefusals) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "fanfare: admission refused" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" {
			l.mu.Lock()
			l.causes = append(l.causes, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *admRefusals) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *admRefusals) WithGroup(string) slog.Handler      { return l }

// take returns the causes logged since the last call.
func (l *admRefusals) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.causes
	l.causes = nil
	return c
}

// admCheckAnswer fails on an answer RequireAdmission must never give: an
// admission without a way to check the token, an admission to anything but
// a verified admQueue, or a refusal outside the contract.
func admCheckAnswer(t *testing.T, rec *httptest.ResponseRecorder, mayAdmit bool) {
	t.Helper()
	switch rec.Code {
	case http.StatusOK:
		if !mayAdmit {
			t.Fatalf("admitted without a way to check the token: %s", rec.Body)
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("handler body: %v", err)
		}
		if got["distribution"] != admQueue.String() || got["verified"] != true {
			t.Fatalf("admitted %v, want a verified admission to %v", got, admQueue)
		}
	case http.StatusForbidden, http.StatusConflict, http.StatusServiceUnavailable:
		var body fanfare.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.HasPrefix(body.Code, "ADMISSION_") {
			t.Fatalf("refusal body %q is not the contract's", rec.Body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatal("refusal without Cache-Control: no-store")
		}
	default:
		t.Fatalf("status %d, want 200, 403, 409 or 503", rec.Code)
	}
}

// admFuzzSeeds are tokens worth mutating: valid ones and the attack table's.
func admFuzzSeeds(f *testing.F) []string {
	k := admKeys()
	valid := admClaims(admQueue, "c_fuzz", admEpoch, 10*time.Minute)
	b := base64.RawURLEncoding.EncodeToString
	return []string{
		admSign(f, jwt.SigningMethodHS256, k.hmac, &valid, ""),
		admSign(f, jwt.SigningMethodES256, k.ec, &valid, "kid-1"),
		admSign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, &valid, ""),
		b([]byte(`{"alg":"HS256"}`)) + "." + b([]byte(`{"consumerId":1,"distributionId":[],"expiresAt":{}}`)) + ".sig",
		b([]byte(`{"alg":"HS256","crit":["exp"]}`)) + "." + b([]byte(`{}`)) + ".",
		b([]byte(`{"alg":"HS256"}`)) + "." + b([]byte(`{"exp":1e400,"nbf":-1,"position":9e99}`)) + ".x",
		"a.b.c.d.e", "....", ".", "", "null", "Bearer x.y.z",
		"eyJ=.eyJ=.==", strings.Repeat("A", 9<<10),
	}
}

// logBuffer collects slog output from concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLogger returns a logger writing every level, as text, to a buffer.
func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// startEmulator starts a Fanfare emulator closed at the end of the test.
func startEmulator(t *testing.T, opts fanfaretest.Options) *fanfaretest.Server {
	t.Helper()
	srv := fanfaretest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// newTestClient builds a client for srv that gives up quickly: one attempt
// of at most attempt, so timeouts and faults are fast to test.
func newTestClient(t *testing.T, srv *fanfaretest.Server, attempt time.Duration) *fanfare.Client {
	t.Helper()
	cfg := srv.Config()
	cfg.AttemptTimeout = attempt
	cfg.Retry = fanfare.RetryPolicy{MaxAttempts: 1}
	cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(cfg.HTTPClient.CloseIdleConnections)
	c, err := fanfare.NewClient(cfg)
	require.NoError(t, err)
	return c
}

// withIdentity is the merchant's auth middleware in tests: it stores id, when
// not nil, in the request context.
func withIdentity(id *fanfare.Identity, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id != nil {
			r = r.WithContext(fanfare.WithIdentity(r.Context(), *id))
		}
		next.ServeHTTP(w, r)
	})
}

type httpResult struct {
	status int
	header http.Header
	body   string
}

// send makes one request to url over real HTTP.
func send(t *testing.T, method, url string, body io.Reader) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return httpResult{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// assertNoSecret fails when the emulator's secret key shows in s.
func assertNoSecret(t *testing.T, srv *fanfaretest.Server, s, what string) {
	t.Helper()
	require.NotEmpty(t, srv.SecretKey)
	if strings.Contains(s, srv.SecretKey) {
		t.Errorf("the secret key appears in %s", what)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// testClient sends the tests' requests. Not http.DefaultClient: every
// httptest.Server.Close closes http.DefaultTransport's idle connections, so
// a parallel test's request about to reuse one fails with "http:
// CloseIdleConnections called". No keep-alive, so nothing idles past a test.
var testClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
