package fanfaretest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

// Options configures a [Server]. The zero value is a ready emulator on a
// random loopback port, signing ES256, admitting every consumer at once.
type Options struct {
	// Addr is the listen address. Default: "127.0.0.1:0" (a free loopback
	// port; read the chosen one from Server.URL).
	Addr string

	// Clock is the emulator's time: token iat/exp, admission expiry and
	// exchange-code expiry all follow it. Pass a [Clock]'s Now to test
	// expiry without sleeping. Default: time.Now (or ManualClock, when
	// set).
	Clock func() time.Time

	// HS256Secret, when set, makes the emulator sign admission and access
	// tokens with HS256 and this shared secret instead of ES256; the JWKS is
	// then empty. Default: nil (ES256 with a fresh P-256 key).
	HS256Secret []byte

	// HoldEntries makes /enter put consumers in line (202, status
	// "waiting") until [Server.AdmitWaiting] admits them; their next /enter
	// returns the admission. Default: false (every /enter admits at once).
	HoldEntries bool

	// ManualClock, when set, is the emulator's time instead of Clock, and
	// the admin API's POST /_emulator/clock can move it (see
	// [Server.AdminURL]). Setting both Clock and ManualClock is an error.
	// Default: nil.
	ManualClock *Clock

	// FingerprintHeader, when set, names a request header whose value /enter
	// writes into the admission token's fingerprint claim (at most 1 KiB; a
	// missing or empty header writes none), so a frontend can test a backend
	// that binds admissions to a device fingerprint. In HoldEntries mode the
	// fingerprint of the consumer's first /enter is the one admitted.
	// Default: "" (tokens from /enter carry no fingerprint).
	FingerprintHeader string

	// AdmissionTTL is the lifetime of admission tokens. Default: 10 minutes.
	AdmissionTTL time.Duration

	// OrganizationID, SecretKey and PublishableKey are the emulator's
	// credentials. SecretKey must start with "sk_" for [Server.Client] to
	// work. Default: random "org_test_…", "sk_test_…" and "pk_test_…".
	OrganizationID, SecretKey, PublishableKey string
}

// Server is a running Fanfare emulator. Its exported fields are set by
// [NewServer] and must not be changed. All methods are safe for concurrent
// use.
type Server struct {
	// URL is the base URL of the emulator, "http://127.0.0.1:port", with no
	// trailing slash: the Fanfare APIURL.
	URL string
	// OrganizationID is the organization the emulator accepts in
	// X-Organization-Id and writes into access tokens.
	OrganizationID string
	// SecretKey is the only key the emulator accepts in X-Secret-Key. It is
	// a test key; it is still never logged or echoed by the emulator.
	SecretKey string
	// PublishableKey is the browser-side key, for the browser SDK's config.
	// The emulator's browser endpoints do not check it.
	PublishableKey string

	now          func() time.Time
	admissionTTL time.Duration
	holdEntries  bool
	manualClock  *Clock

	fingerprintHeader string // canonical form; "" when off
	corsAllowHeaders  string
	secretHash        [sha256.Size]byte
	orgHash           [sha256.Size]byte

	// Signing. In ES256 mode ecKey is set; in HS256 mode hmacKey is.
	method          jwt.SigningMethod
	signKey         any
	verifyKey       any
	ecKey           *ecdsa.PrivateKey
	hmacKey         []byte
	kid             string
	jwksBody        []byte
	admissionParser *jwt.Parser
	accessParser    *jwt.Parser

	state    state
	recorder recorder
	faults   faults
	calls    [numEndpoints]atomic.Int64

	ln        net.Listener
	srv       *http.Server
	served    chan struct{} // closed when Serve returns
	closing   chan struct{} // closed when Close starts: cuts latency waits
	closeOnce sync.Once

	// Connections are tracked as httptest.Server does, so Close can shut
	// idle and never-used ones at once: http.Server.Shutdown would wait up to
	// 5 s for a connection a client dialed but never used.
	connMu  sync.Mutex
	conns   map[net.Conn]http.ConnState
	connWG  sync.WaitGroup
	stopped bool

	clientOnce sync.Once
	client     *fanfare.Client
	clientHTTP *http.Client
}

// NewServer starts an emulator listening on opts.Addr, like
// httptest.NewServer. It panics if it cannot listen (use [Start] to get an
// error instead) or if opts is invalid. Call Close when done, typically with
// t.Cleanup(srv.Close).
func NewServer(opts Options) *Server {
	s, err := Start(opts)
	if err != nil {
		panic(err.Error())
	}
	return s
}

// Start is [NewServer] returning an error instead of panicking when it
// cannot listen, for commands such as cmd/fanfare-emulator.
func Start(opts Options) (*Server, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fanfare: fanfaretest: listen on %q: %w", addr, err)
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s,
		ConnState:         s.trackConn,
		ReadHeaderTimeout: 10 * time.Second,
		// The standard library's own complaints (a client hanging up
		// mid-request) are noise in test output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// newServer builds a server that is not yet listening.
func newServer(opts Options) (*Server, error) {
	if opts.AdmissionTTL < 0 {
		return nil, errors.New("fanfare: fanfaretest: negative Options.AdmissionTTL")
	}
	if opts.Clock != nil && opts.ManualClock != nil {
		return nil, errors.New("fanfare: fanfaretest: set Options.Clock or Options.ManualClock, not both")
	}
	if h := opts.FingerprintHeader; h != "" && !validHeaderName(h) {
		return nil, errors.New("fanfare: fanfaretest: Options.FingerprintHeader is not a valid header name")
	}
	s := &Server{
		OrganizationID: opts.OrganizationID,
		SecretKey:      opts.SecretKey,
		PublishableKey: opts.PublishableKey,
		now:            opts.Clock,
		admissionTTL:   opts.AdmissionTTL,
		holdEntries:    opts.HoldEntries,
		served:         make(chan struct{}),
		closing:        make(chan struct{}),
		conns:          make(map[net.Conn]http.ConnState),
	}
	if opts.ManualClock != nil {
		s.manualClock = opts.ManualClock
		s.now = opts.ManualClock.Now
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.corsAllowHeaders = "Authorization, Content-Type"
	if opts.FingerprintHeader != "" {
		s.fingerprintHeader = http.CanonicalHeaderKey(opts.FingerprintHeader)
		s.corsAllowHeaders += ", " + s.fingerprintHeader
	}
	if s.admissionTTL == 0 {
		s.admissionTTL = 10 * time.Minute
	}
	if s.OrganizationID == "" {
		s.OrganizationID = "org_test_" + randomHex(8)
	}
	if s.SecretKey == "" {
		s.SecretKey = "sk_test_" + randomHex(24)
	}
	if s.PublishableKey == "" {
		s.PublishableKey = "pk_test_" + randomHex(12)
	}
	s.secretHash = sha256.Sum256([]byte(s.SecretKey))
	s.orgHash = sha256.Sum256([]byte(s.OrganizationID))

	if len(opts.HS256Secret) > 0 {
		s.hmacKey = append([]byte(nil), opts.HS256Secret...)
		s.method, s.signKey, s.verifyKey = jwt.SigningMethodHS256, s.hmacKey, s.hmacKey
		s.jwksBody = []byte(`{"keys":[]}`)
	} else {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("fanfare: fanfaretest: generate signing key: %w", err)
		}
		jwk, err := publicJWK(&key.PublicKey)
		if err != nil {
			return nil, err
		}
		s.ecKey, s.kid = key, jwk.Kid
		s.method, s.signKey, s.verifyKey = jwt.SigningMethodES256, key, &key.PublicKey
		s.jwksBody = mustJSON(wire.JWKS{Keys: []wire.JWK{jwk}})
	}
	common := []jwt.ParserOption{
		jwt.WithValidMethods([]string{s.method.Alg()}), // pinned: no alg confusion, no "none"
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
	}
	s.admissionParser = jwt.NewParser(common...)
	s.accessParser = jwt.NewParser(append(common, jwt.WithIssuer(wire.AccessTokenIssuer))...)
	s.state.init()
	return s, nil
}

// publicJWK describes pub as an ES256 JWK whose kid is its RFC 7638
// thumbprint.
func publicJWK(pub *ecdsa.PublicKey) (wire.JWK, error) {
	// The uncompressed point 0x04 || X || Y, without the big.Int fields.
	ecdhKey, err := pub.ECDH()
	if err != nil {
		return wire.JWK{}, fmt.Errorf("fanfare: fanfaretest: signing key: %w", err)
	}
	point := ecdhKey.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	x, y := b64(point[1:33]), b64(point[33:65])
	thumb := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	return wire.JWK{Kty: "EC", Crv: "P-256", X: x, Y: y, Kid: b64(thumb[:]), Alg: "ES256", Use: "sig"}, nil
}

// Close stops the emulator: it refuses new connections, closes idle ones,
// cuts injected latency waits short (those requests get a 503), waits for
// in-flight requests to finish, and closes the idle connections of
// [Server.Client]. A request still in flight after 2 seconds (a client that
// never finishes sending its body or never reads the answer) has its
// connection closed, so Close always returns. Calling it again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		if s.srv == nil {
			return
		}
		s.connMu.Lock()
		s.stopped = true
		_ = s.ln.Close()
		s.srv.SetKeepAlivesEnabled(false) // active connections close after their answer
		for c, st := range s.conns {
			if st == http.StateIdle || st == http.StateNew {
				_ = c.Close()
			}
		}
		s.connMu.Unlock()
		if !s.waitConns(closeGrace) {
			// A request still running after the grace is stuck on its
			// client (a body never finished, an answer never read): cut it.
			s.connMu.Lock()
			for c := range s.conns {
				_ = c.Close()
			}
			s.connMu.Unlock()
			s.connWG.Wait()
		}
		<-s.served
		if s.clientHTTP != nil {
			s.clientHTTP.CloseIdleConnections()
		}
	})
}

// closeGrace is how long Close lets in-flight requests finish before it
// closes their connections. The emulator answers in microseconds, so only a
// client that stalls (never finishes its request body, never reads the
// answer) meets it.
const closeGrace = 2 * time.Second

// waitConns waits up to d for every tracked connection to close and reports
// whether they all did.
func (s *Server) waitConns(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// trackConn follows every connection's state for Close.
func (s *Server) trackConn(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch st {
	case http.StateNew:
		s.connWG.Add(1)
		s.conns[c] = st
		if s.stopped {
			_ = c.Close()
		}
	case http.StateActive:
		if _, ok := s.conns[c]; ok {
			s.conns[c] = st
		}
	case http.StateIdle:
		if _, ok := s.conns[c]; ok {
			s.conns[c] = st
		}
		if s.stopped {
			_ = c.Close()
		}
	case http.StateHijacked, http.StateClosed:
		if _, ok := s.conns[c]; ok {
			delete(s.conns, c)
			s.connWG.Done()
		}
	}
}

// Config returns a fanfare.Config pointing at the emulator with its
// organization id and secret key.
func (s *Server) Config() fanfare.Config {
	return fanfare.Config{APIURL: s.URL, OrganizationID: s.OrganizationID, SecretKey: s.SecretKey}
}

// Client returns a fanfare.Client built from [Server.Config]; every call
// returns the same client, whose idle connections Close closes. It panics if
// Options.SecretKey was set to a key fanfare.NewClient refuses.
func (s *Server) Client() *fanfare.Client {
	s.clientOnce.Do(func() {
		cfg := s.Config()
		// Its own transport (http.DefaultTransport may be wrapped), keeping
		// idle connections as fanfare's default client does: bursts reuse them.
		s.clientHTTP = &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512}}
		cfg.HTTPClient = s.clientHTTP
		c, err := fanfare.NewClient(cfg)
		if err != nil {
			panic("fanfare: fanfaretest: Server.Client: " + err.Error())
		}
		s.client = c
	})
	return s.client
}

// JWKSURL returns the URL of the emulator's JSON Web Key Set.
func (s *Server) JWKSURL() string { return s.URL + wire.PathJWKS }

// KeyID returns the kid of the ES256 signing key (its RFC 7638 thumbprint),
// or "" in HS256 mode.
func (s *Server) KeyID() string { return s.kid }

// PublicKey returns the *ecdsa.PublicKey that verifies the emulator's
// tokens, or nil in HS256 mode.
func (s *Server) PublicKey() crypto.PublicKey {
	if s.ecKey == nil {
		return nil
	}
	return &s.ecKey.PublicKey
}

// PublicKeyPEM returns the public key as a PKIX "PUBLIC KEY" PEM block, or
// nil in HS256 mode.
func (s *Server) PublicKeyPEM() []byte {
	if s.ecKey == nil {
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(&s.ecKey.PublicKey)
	if err != nil { // cannot happen for a P-256 key
		panic("fanfare: fanfaretest: marshal public key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Now returns the emulator's current time.
func (s *Server) Now() time.Time { return s.now() }

// validHeaderName reports whether name is an HTTP field name (an RFC 9110
// token).
func validHeaderName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return name != ""
}

// randomHex returns n random bytes, hex encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}

// randomToken returns n random bytes, unpadded base64url: unguessable ids.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
