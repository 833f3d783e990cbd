package fanfare

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks admission token signatures locally. Build one with
// [NewHMACVerifier], [NewPEMVerifier] or [NewJWKSVerifier]; implement it to
// plug in another key source (e.g. MicahParks/keyfunc).
type Verifier interface {
	// Algorithms returns the JWS algorithms the verifier accepts. A token
	// naming any other "alg" is refused before Keyfunc is called, which is
	// what defeats "alg: none" and algorithm confusion (a token signed with
	// HS256 using the public key as the secret): never list HMAC algorithms
	// for public keys. RequireAdmission copies the list once.
	Algorithms() []string
	// Keyfunc returns the key for a token whose header and payload are
	// decoded but whose signature is not yet checked: one key of the type
	// t.Method expects, or a jwt.VerificationKeySet.
	Keyfunc(t *jwt.Token) (any, error)
}

var (
	hmacAlgorithms = []string{"HS256", "HS384", "HS512"}
	rsaAlgorithms  = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	// publicAlgorithms is every algorithm a public key may verify.
	publicAlgorithms = append([]string{"ES256", "ES384", "ES512", "EdDSA"}, rsaAlgorithms...)
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

// hmacVerifier holds its key as an interface value made once, so Keyfunc
// does not box the slice on every request.
type hmacVerifier struct{ key any }

func (v *hmacVerifier) Algorithms() []string            { return hmacAlgorithms }
func (v *hmacVerifier) Keyfunc(*jwt.Token) (any, error) { return v.key, nil }
func (v *hmacVerifier) String() string                  { return "fanfare.HMACVerifier{key:[REDACTED]}" }
func (v *hmacVerifier) GoString() string                { return v.String() }
func (v *hmacVerifier) Format(f fmt.State, _ rune)      { io.WriteString(f, v.String()) }
func (v *hmacVerifier) LogValue() slog.Value            { return slog.StringValue(v.String()) }

// NewPEMVerifier returns a verifier for the public keys in pemBytes: one or
// more "PUBLIC KEY" (PKIX), "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE"
// blocks. Each key accepts only its own algorithms: ES256, ES384 or ES512 for
// ECDSA P-256, P-384 or P-521; EdDSA for Ed25519; RS256…PS512 for RSA keys of
// at least 2048 bits. A token is tried against every key of its algorithm;
// kid headers are ignored. Private keys are refused.
func NewPEMVerifier(pemBytes []byte) (Verifier, error) {
	var set keySet
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
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
			if bytes.Contains([]byte(block.Type), []byte("PRIVATE")) {
				return nil, errors.New("fanfare: the PEM holds a private key; give the verifier the public key only")
			}
			return nil, fmt.Errorf("fanfare: unsupported PEM block %q", truncate(block.Type, 40))
		}
		if err != nil {
			return nil, fmt.Errorf("fanfare: parsing PEM %s: %w", block.Type, err)
		}
		e, err := newKeyEntry("", key, "")
		if err != nil {
			return nil, err
		}
		set.keys = append(set.keys, e)
	}
	if len(set.keys) == 0 {
		return nil, errors.New("fanfare: no PEM public key found")
	}
	return &pemVerifier{set: set}, nil
}

type pemVerifier struct{ set keySet }

func (v *pemVerifier) Algorithms() []string { return v.set.algorithms() }
func (v *pemVerifier) Keyfunc(t *jwt.Token) (any, error) {
	key, _, err := v.set.lookup(t, false)
	return key, err
}

// keyEntry is one verification key and the algorithms it may verify.
type keyEntry struct {
	kid  string
	key  any
	algs []string
}

// newKeyEntry pins key to the algorithms of its type; alg, when not empty,
// narrows them to one.
func newKeyEntry(kid string, key any, alg string) (keyEntry, error) {
	var algs []string
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			algs = []string{"ES256"}
		case elliptic.P384():
			algs = []string{"ES384"}
		case elliptic.P521():
			algs = []string{"ES512"}
		default:
			return keyEntry{}, errors.New("fanfare: unsupported ECDSA curve")
		}
	case ed25519.PublicKey:
		algs = []string{"EdDSA"}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return keyEntry{}, fmt.Errorf("fanfare: RSA key of %d bits; at least 2048 are required", k.N.BitLen())
		}
		algs = rsaAlgorithms
	default:
		return keyEntry{}, fmt.Errorf("fanfare: unsupported public key type %T", key)
	}
	if alg != "" {
		if !slices.Contains(algs, alg) {
			return keyEntry{}, fmt.Errorf("fanfare: key declares alg %q, which its type cannot verify", truncate(alg, 16))
		}
		algs = []string{alg}
	}
	return keyEntry{kid: kid, key: key, algs: algs}, nil
}

// keySet is an immutable set of keys.
type keySet struct{ keys []keyEntry }

func (s *keySet) algorithms() []string {
	var algs []string
	for _, e := range s.keys {
		for _, a := range e.algs {
			if !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
	}
	return algs
}

var errUnknownKID = errors.New("fanfare: no key with the token's kid")

// lookup returns the key(s) for t's algorithm. With byKID, a token naming a
// kid gets only the key with that kid (unknownKID reports there is none);
// a token without kid gets every key of its algorithm.
func (s *keySet) lookup(t *jwt.Token, byKID bool) (key any, unknownKID bool, err error) {
	alg := t.Method.Alg()
	kid, _ := t.Header["kid"].(string)
	if byKID && kid != "" {
		for _, e := range s.keys {
			if e.kid != kid {
				continue
			}
			if !slices.Contains(e.algs, alg) {
				return nil, false, fmt.Errorf("fanfare: key %q does not verify %s", truncate(kid, 40), alg)
			}
			return e.key, false, nil
		}
		return nil, true, errUnknownKID
	}
	n := 0
	for _, e := range s.keys {
		if slices.Contains(e.algs, alg) {
			if n == 0 {
				key = e.key
			}
			n++
		}
	}
	switch n {
	case 0:
		return nil, false, fmt.Errorf("fanfare: no key verifies %s", alg)
	case 1:
		return key, false, nil
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, 0, n)}
	for _, e := range s.keys {
		if slices.Contains(e.algs, alg) {
			set.Keys = append(set.Keys, e.key)
		}
	}
	return set, false, nil
}

// JWKSOptions configures [NewJWKSVerifier].
type JWKSOptions struct {
	// HTTPClient fetches the key set. Default: a client with the library's
	// transport and a 10s timeout.
	HTTPClient *http.Client
	// RefreshInterval is how often the key set is fetched in the
	// background. Default: 15m.
	RefreshInterval time.Duration
	// UnknownKIDInterval is the least time between two fetches caused by
	// tokens naming an unknown kid (a key rotation). Tokens with an unknown
	// kid in between are refused without a fetch, so forged kids cannot
	// make the verifier hammer the key server. Default: 30s.
	UnknownKIDInterval time.Duration
	// Clock tells the time for UnknownKIDInterval. Default: time.Now.
	Clock func() time.Time
	// Logger receives failed background refreshes. Default: slog.Default().
	Logger *slog.Logger
}

// JWKSVerifier verifies tokens with the public keys of a JSON Web Key Set
// (RFC 7517) fetched over HTTPS and kept fresh in the background. Keys of
// type EC (P-256, P-384, P-521), OKP (Ed25519) and RSA (≥ 2048 bits) with
// use "sig" or no use are kept; symmetric ("oct") keys are ignored, since a
// published secret would let anyone mint tokens. A key's "alg", when
// present, pins it to that algorithm. A token naming a kid is verified with
// that key only; a kid not in the set triggers one rate-limited refetch.
//
// It is safe for concurrent use. Stop its background refresh with Close or
// by cancelling the context given to NewJWKSVerifier.
type JWKSVerifier struct {
	url    string
	hc     *http.Client
	clock  func() time.Time
	logger *slog.Logger
	every  time.Duration
	gap    time.Duration

	ownHC bool // hc is ours: Close closes its idle connections

	keys      atomic.Pointer[keySet]
	refreshMu sync.Mutex // one unknown-kid fetch at a time
	lastKID   time.Time  // last unknown-kid fetch, under refreshMu

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// maxJWKSBytes bounds a fetched key set; real sets are a few kilobytes.
const maxJWKSBytes = 512 << 10

// maxJWKSKeys bounds the keys kept from one set.
const maxJWKSKeys = 64

// NewJWKSVerifier fetches the key set at jwksURL (https, or http on a
// loopback host) and returns a verifier that refreshes it every
// RefreshInterval until ctx is cancelled or Close is called. The first fetch
// is bounded by ctx; its failure, or a set without a usable key, is an error.
// ctx lives as long as the verifier: do not pass a request's or a short
// timeout's context.
func NewJWKSVerifier(ctx context.Context, jwksURL string, opts JWKSOptions) (*JWKSVerifier, error) {
	u, err := url.Parse(jwksURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return nil, fmt.Errorf("fanfare: JWKS URL %q must be https (plain http only on a loopback host)", truncate(jwksURL, 100))
	}
	if opts.RefreshInterval < 0 || opts.UnknownKIDInterval < 0 {
		return nil, errors.New("fanfare: negative JWKS refresh interval")
	}
	v := &JWKSVerifier{
		url:    u.String(),
		hc:     opts.HTTPClient,
		clock:  opts.Clock,
		logger: opts.Logger,
		every:  orDefault(opts.RefreshInterval, 15*time.Minute),
		gap:    orDefault(opts.UnknownKIDInterval, 30*time.Second),
		done:   make(chan struct{}),
	}
	if v.hc == nil {
		v.hc, v.ownHC = &http.Client{Transport: NewTransport(), Timeout: 10 * time.Second}, true
	}
	if v.clock == nil {
		v.clock = time.Now
	}
	if err := v.Refresh(ctx); err != nil {
		if v.ownHC {
			v.hc.CloseIdleConnections()
		}
		return nil, err
	}
	v.ctx, v.cancel = context.WithCancel(ctx)
	go v.refreshLoop()
	return v, nil
}

// Algorithms implements [Verifier]: every public-key algorithm, since the set
// can change; each key still accepts only its own.
func (v *JWKSVerifier) Algorithms() []string { return publicAlgorithms }

// Keyfunc implements [Verifier].
func (v *JWKSVerifier) Keyfunc(t *jwt.Token) (any, error) {
	key, unknown, err := v.keys.Load().lookup(t, true)
	if !unknown {
		return key, err
	}
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	// Another request may have fetched the new key while this one waited.
	if key, unknown, err = v.keys.Load().lookup(t, true); !unknown {
		return key, err
	}
	now := v.clock()
	if !v.lastKID.IsZero() && now.Sub(v.lastKID) < v.gap {
		return nil, err
	}
	v.lastKID = now
	ctx, cancel := context.WithTimeout(v.ctx, 10*time.Second)
	defer cancel()
	if rerr := v.Refresh(ctx); rerr != nil {
		v.log().Warn("fanfare: JWKS refresh for an unknown kid failed", "url", v.url, "error", rerr)
		return nil, err
	}
	key, _, err = v.keys.Load().lookup(t, true)
	return key, err
}

// Refresh fetches the key set now. On failure the keys in use are kept.
func (v *JWKSVerifier) Refresh(ctx context.Context) error {
	set, err := v.fetch(ctx)
	if err != nil {
		return err
	}
	v.keys.Store(set)
	return nil
}

// Close stops the background refresh, waits for it to end and closes the
// idle connections of the default HTTP client. The verifier keeps verifying
// with the keys it has. Close is idempotent.
func (v *JWKSVerifier) Close() error {
	v.cancel()
	<-v.done
	if v.ownHC {
		v.hc.CloseIdleConnections()
	}
	return nil
}

func (v *JWKSVerifier) log() *slog.Logger {
	if v.logger != nil {
		return v.logger
	}
	return slog.Default()
}

func (v *JWKSVerifier) refreshLoop() {
	defer close(v.done)
	t := time.NewTicker(v.every)
	defer t.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(v.ctx, 10*time.Second)
			if err := v.Refresh(ctx); err != nil && v.ctx.Err() == nil {
				v.log().Warn("fanfare: JWKS refresh failed; keeping the current keys", "url", v.url, "error", err)
			}
			cancel()
		}
	}
}

func (v *JWKSVerifier) fetch(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fanfare: JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fanfare: JWKS: %w", err)
	}
	defer resp.Body.Close()
	raw, err := readCapped(resp.Body, maxJWKSBytes)
	if err != nil {
		return nil, fmt.Errorf("fanfare: JWKS: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fanfare: JWKS: status %d", resp.StatusCode)
	}
	return parseJWKS(raw)
}

// jwk is one JSON Web Key (RFC 7517, RFC 7518 §6, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS keeps the usable signature keys of a set; keys it cannot use are
// skipped, and a set with none is an error.
func parseJWKS(raw []byte) (*keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, errors.New("fanfare: JWKS: not a JSON key set")
	}
	set := &keySet{}
	var skipped []error
	for _, k := range doc.Keys {
		if len(set.keys) == maxJWKSKeys {
			break
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key, err := k.publicKey()
		if err == nil {
			var e keyEntry
			if e, err = newKeyEntry(k.Kid, key, k.Alg); err == nil {
				set.keys = append(set.keys, e)
				continue
			}
		}
		if k.Kty != "oct" { // symmetric keys are skipped on purpose
			skipped = append(skipped, err)
		}
	}
	if len(set.keys) == 0 {
		return nil, errors.Join(append([]error{errors.New("fanfare: JWKS: no usable signature key")}, skipped...)...)
	}
	return set, nil
}

var b64 = base64.RawURLEncoding

func (k jwk) publicKey() (any, error) {
	switch k.Kty {
	case "EC":
		var curve elliptic.Curve
		var check ecdh.Curve
		switch k.Crv {
		case "P-256":
			curve, check = elliptic.P256(), ecdh.P256()
		case "P-384":
			curve, check = elliptic.P384(), ecdh.P384()
		case "P-521":
			curve, check = elliptic.P521(), ecdh.P521()
		default:
			return nil, fmt.Errorf("fanfare: JWKS: unsupported EC curve %q", truncate(k.Crv, 16))
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := b64.DecodeString(k.X)
		y, errY := b64.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return nil, errors.New("fanfare: JWKS: malformed EC key")
		}
		// crypto/ecdh refuses points not on the curve.
		if _, err := check.NewPublicKey(append(append([]byte{4}, x...), y...)); err != nil {
			return nil, errors.New("fanfare: JWKS: EC point is not on the curve")
		}
		return &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}, nil
	case "OKP":
		x, err := b64.DecodeString(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("fanfare: JWKS: unsupported or malformed OKP key")
		}
		return ed25519.PublicKey(x), nil
	case "RSA":
		n, errN := b64.DecodeString(k.N)
		e, errE := b64.DecodeString(k.E)
		if errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("fanfare: JWKS: malformed RSA key")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 {
			return nil, errors.New("fanfare: JWKS: bad RSA exponent")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
	}
	return nil, fmt.Errorf("fanfare: JWKS: unsupported key type %q", truncate(k.Kty, 16))
}
