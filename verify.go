package fanfare

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/waitify-io/fanfare-go/internal/scrub"
)

// Verifier checks admission token signatures locally. Build one with
// [NewHMACVerifier], [NewPEMVerifier] or [NewJWKSVerifier]; implement it to
// plug in another key source.
type Verifier interface {
	// Algorithms returns the JWS algorithms the verifier accepts; a token
	// naming another "alg" is refused before Keyfunc is called. That defeats
	// "alg: none" and algorithm confusion (HS256 keyed with the public key):
	// never list HMAC algorithms for public keys. Read once.
	Algorithms() []string
	// Keyfunc returns the key for a token whose signature is not yet
	// checked: one key of the type t.Method expects, or a
	// jwt.VerificationKeySet.
	Keyfunc(t *jwt.Token) (any, error)
}

var (
	rsaAlgorithms   = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	ecdsaAlgorithms = map[elliptic.Curve][]string{elliptic.P256(): {"ES256"}, elliptic.P384(): {"ES384"}, elliptic.P521(): {"ES512"}}
)

// NewHMACVerifier returns a verifier for tokens signed with HS256, HS384 or
// HS512 and secret. The secret must be at least 32 bytes (RFC 7518 §3.2).
// Never expose it: anyone holding it can mint admissions. The verifier keeps
// a copy and does not print it.
func NewHMACVerifier(secret []byte) (Verifier, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("fanfare: HMAC secret is %d bytes; at least 32 are required", len(secret))
	}
	return &hmacVerifier{key: bytes.Clone(secret)}, nil
}

type hmacVerifier struct{ key []byte }

func (v *hmacVerifier) Algorithms() []string            { return []string{"HS256", "HS384", "HS512"} }
func (v *hmacVerifier) Keyfunc(*jwt.Token) (any, error) { return v.key, nil }

// Format prints the verifier without its key, for fmt and log/slog's
// TextHandler (its JSONHandler prints {}).
func (v *hmacVerifier) Format(f fmt.State, _ rune) {
	io.WriteString(f, "fanfare.HMACVerifier{key:"+scrub.Redacted+"}")
}

// NewPEMVerifier returns a verifier for the public keys in pemBytes: one or
// more "PUBLIC KEY" (PKIX), "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE"
// blocks. Each key accepts only its own algorithms: ES256, ES384 or ES512 for
// ECDSA P-256, P-384 or P-521; EdDSA for Ed25519; RS256…PS512 for RSA keys of
// at least 2048 bits. A token is tried against every key of its algorithm;
// kid headers are ignored. Private keys are refused.
func NewPEMVerifier(pemBytes []byte) (Verifier, error) {
	var v pemVerifier
	for block, rest := pem.Decode(pemBytes); block != nil; block, rest = pem.Decode(rest) {
		var key any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				key = cert.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE") {
				return nil, errors.New("fanfare: the PEM holds a private key; give the verifier the public key only")
			}
			return nil, fmt.Errorf("fanfare: unsupported PEM block %q", truncate(block.Type, 40))
		}
		if err != nil {
			return nil, fmt.Errorf("fanfare: parsing PEM %s: %w", block.Type, err)
		}
		if _, err := keyAlgorithms(key); err != nil {
			return nil, err
		}
		v = append(v, key)
	}
	if len(v) == 0 {
		return nil, errors.New("fanfare: no PEM public key found")
	}
	return &v, nil // a pointer, so that Verifiers compare with ==
}

// pemVerifier holds keys keyAlgorithms accepts.
type pemVerifier []jwt.VerificationKey

func (v *pemVerifier) Algorithms() (algs []string) {
	for _, k := range *v {
		a, _ := keyAlgorithms(k)
		algs = append(algs, a...)
	}
	return algs
}

func (v *pemVerifier) Keyfunc(t *jwt.Token) (any, error) { return keysFor(*v, t.Method.Alg()) }

// keyAlgorithms pins every key to its own kind (an RSA key never verifies
// HS256 or ES256); other types and curves, and RSA under 2048 bits, fail.
func keyAlgorithms(key any) ([]string, error) {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if algs, ok := ecdsaAlgorithms[k.Curve]; ok {
			return algs, nil
		}
		return nil, errors.New("fanfare: unsupported ECDSA curve")
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("fanfare: RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
		return rsaAlgorithms, nil
	}
	return nil, fmt.Errorf("fanfare: unsupported public key type %T", key)
}

// keysFor returns the keys that may verify alg: one key, or a set of at most
// 64, so a token without kid costs a bounded number of checks.
func keysFor(keys []jwt.VerificationKey, alg string) (any, error) {
	var found []jwt.VerificationKey
	for _, k := range keys {
		if algs, err := keyAlgorithms(k); len(found) < 64 && err == nil && slices.Contains(algs, alg) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("fanfare: no key verifies %s", alg)
	case 1:
		return found[0], nil
	}
	return jwt.VerificationKeySet{Keys: found}, nil
}

// JWKSOptions configures [NewJWKSVerifier].
type JWKSOptions struct {
	// HTTPClient fetches the key set. The verifier uses a copy that fails
	// any response past 512 KiB and whose Timeout, 10s when zero, bounds
	// every fetch. Default: a client like Config.HTTPClient's.
	HTTPClient *http.Client
	// RefreshInterval is how often the key set is fetched in the
	// background. Default: 15m.
	RefreshInterval time.Duration
	// UnknownKIDInterval is the least time between two fetches for tokens
	// naming an unknown kid (a key rotation). Such a token waits at most
	// the client's Timeout for its turn, else is refused without a fetch:
	// forged kids cannot make the verifier hammer the key server.
	// Default: 30s.
	UnknownKIDInterval time.Duration
	// Logger receives failed refreshes. Default: slog.Default().
	Logger *slog.Logger
}

// JWKSVerifier verifies tokens with the EC, Ed25519 and RSA (≥ 2048 bits)
// signature keys of a JSON Web Key Set (RFC 7517), never with published
// symmetric ("oct") ones: see the README's "Verifying with a JWKS URL". It
// is safe for concurrent use; Close stops its refresh.
type JWKSVerifier struct {
	url       string
	kf        keyfunc.Keyfunc
	fetch     jwkset.HTTPClientStorageOptions // options of a fetch into the key storage
	closeIdle func()                          // of the default client's transport
	log       *slog.Logger
	cancel    context.CancelFunc
	done      chan struct{}
}

// maxJWKSBytes bounds a fetched key set; real ones are a few kilobytes.
const maxJWKSBytes = 512 << 10

// NewJWKSVerifier fetches the key set at jwksURL (https, or http on a
// loopback host) and returns a verifier that refreshes it every
// RefreshInterval until ctx is cancelled or Close is called. A failed first
// fetch, or a set without a usable key, is an error. ctx lives as long as the
// verifier: do not pass a request's or a short timeout's context.
func NewJWKSVerifier(ctx context.Context, jwksURL string, opts JWKSOptions) (*JWKSVerifier, error) {
	u, err := url.Parse(jwksURL)
	if err != nil || !secureURL(u) {
		return nil, fmt.Errorf("fanfare: JWKS URL %q must be https (plain http only on a loopback host)", truncate(jwksURL, 100))
	}
	if opts.RefreshInterval < 0 || opts.UnknownKIDInterval < 0 {
		return nil, errors.New("fanfare: negative JWKS refresh interval")
	}
	v := &JWKSVerifier{url: u.String(), log: cmp.Or(opts.Logger, slog.Default()).With("url", u.Redacted()), done: make(chan struct{}), closeIdle: func() {}}
	hc := opts.HTTPClient
	if hc == nil {
		tr := newTransport()
		hc, v.closeIdle = &http.Client{Transport: tr}, tr.CloseIdleConnections
	}
	cp := *hc // jwkset decodes bodies unbounded: the copy's transport caps them
	cp.Transport = cappedTransport{cmp.Or(cp.Transport, http.DefaultTransport)}
	cp.Timeout = cmp.Or(cp.Timeout, 10*time.Second)
	hc = &cp
	ctx, v.cancel = context.WithCancel(ctx)
	fail := func(err error) (*JWKSVerifier, error) {
		v.cancel()
		v.closeIdle()
		return nil, err
	}
	store := jwkset.NewMemoryStorage()
	v.fetch = jwkset.HTTPClientStorageOptions{
		Client:      hc,
		Ctx:         ctx,
		HTTPTimeout: hc.Timeout,
		Storage:     store,
		RefreshErrorHandler: func(_ context.Context, err error) { // unknown-kid refetches
			v.log.Warn("fanfare: JWKS refresh for an unknown kid failed", "error", err)
		},
	}
	// Without RefreshInterval jwkset starts no goroutine: our own loop
	// refreshes, so that Close can wait for it.
	remote, err := jwkset.NewStorageFromHTTP(v.url, v.fetch)
	if err != nil {
		return fail(fetchError(err))
	}
	if keys, _ := store.KeyReadAll(ctx); !slices.ContainsFunc(keys, usableJWK) {
		return fail(errors.New("fanfare: JWKS: no usable signature key"))
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{v.url: remote},
		PrioritizeHTTP:    true, // the given storage is empty: skip it
		RefreshUnknownKID: rate.NewLimiter(rate.Every(cmp.Or(opts.UnknownKIDInterval, 30*time.Second)), 1),
		RateLimitWaitMax:  hc.Timeout,
	})
	if err == nil {
		v.kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: client, UseWhitelist: signatureUses})
	}
	if err != nil {
		return fail(fmt.Errorf("fanfare: JWKS: %w", err))
	}
	go v.refreshLoop(ctx, cmp.Or(opts.RefreshInterval, 15*time.Minute))
	return v, nil
}

// signatureUses are the JWK "use" values of keys that verify tokens.
var signatureUses = []jwkset.USE{jwkset.UseSig, ""}

func usableJWK(k jwkset.JWK) bool {
	key := k.Key()
	if p, ok := key.(interface{ Public() crypto.PublicKey }); ok { // a private key
		key = p.Public()
	}
	_, err := keyAlgorithms(key)
	return err == nil && slices.Contains(signatureUses, k.Marshal().USE)
}

// Algorithms implements [Verifier]: every public-key algorithm, since the set
// can change; each key still accepts only its own.
func (v *JWKSVerifier) Algorithms() []string {
	return append([]string{"ES256", "ES384", "ES512", "EdDSA"}, rsaAlgorithms...)
}

// Keyfunc implements [Verifier].
func (v *JWKSVerifier) Keyfunc(t *jwt.Token) (any, error) {
	key, err := v.kf.Keyfunc(t)
	if err != nil {
		if errors.Is(err, jwkset.ErrKeyNotFound) {
			return nil, errUnknownKID
		}
		return nil, fmt.Errorf("fanfare: JWKS: %w", err)
	}
	keys := []jwt.VerificationKey{key}
	if set, ok := key.(jwt.VerificationKeySet); ok {
		keys = set.Keys
	}
	return keysFor(keys, t.Method.Alg())
}

var errUnknownKID = errors.New("fanfare: no key with the token's kid")

// fetchError drops jwkset's "first HTTP request" wrapping: each of our
// fetches is one.
func fetchError(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		err = inner
	}
	return fmt.Errorf("fanfare: JWKS: %w", err)
}

// Close stops the background refresh, waits for it to end and closes the
// default HTTP client's idle connections. The verifier keeps verifying with
// the keys it has, without refetching. Close is idempotent.
func (v *JWKSVerifier) Close() error {
	v.cancel()
	<-v.done
	v.closeIdle()
	return nil
}

func (v *JWKSVerifier) refreshLoop(ctx context.Context, every time.Duration) {
	defer close(v.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A failed fetch leaves the keys in use in the storage.
			if _, err := jwkset.NewStorageFromHTTP(v.url, v.fetch); err != nil && ctx.Err() == nil {
				v.log.Warn("fanfare: JWKS refresh failed; keeping the current keys", "error", fetchError(err))
			}
		}
	}
}

// cappedTransport reads a whole response, failing past maxJWKSBytes.
type cappedTransport struct{ base http.RoundTripper }

func (t cappedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, maxJWKSBytes)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
