package fanfare

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// This file decodes and checks admission tokens: the typed payload, the
// origin checks, and the parser wiring that runs them before the signature.

// tokenClaims is the typed decode target of an admission token: golang-jwt
// decodes the payload into it with encoding/json. It carries the request
// being checked so the parser's key callback can run the cheap origin checks
// before the (expensive) signature check.
type tokenClaims struct {
	wire.AdmissionClaims
	run *AdmissionHold
}

// maxAdmissionLifetime bounds an admission's life: each of its expiries (exp
// and expiresAt, whichever it has) may lie at most this long after now, and
// at most this long after its admittedAt when it has one. Fanfare's
// admissions last minutes; a token that claims more is refused as invalid
// (403 ADMISSION_INVALID), so that time arithmetic downstream (hold and
// used-admission TTLs) never overflows.
const maxAdmissionLifetime = 7 * 24 * time.Hour

// errAbsurdLifetime refuses a token that claims to outlive
// maxAdmissionLifetime.
var errAbsurdLifetime = errors.New("token's lifetime is absurd: it expires more than 7 days after now or after admittedAt")

// checkClaims checks the decoded payload against the request: shape,
// distribution, consumer, expiry, lifetime and fingerprint. It fills run.adm.
func (run *AdmissionHold) checkClaims(c *tokenClaims) *AdmissionError {
	m := run.m
	if c.ConsumerID == "" || c.DistributionID == "" {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token lacks consumerId or distributionId"))
	}
	typ, err := parseDistributionType(c.DistributionType)
	if err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	d := Distribution{Type: typ, ID: c.DistributionID}
	if !run.distributionAllowed(d) {
		return admissionFailure(ErrAdmissionMismatch, fmt.Errorf("token is for %s, not this route's distribution", truncate(d.String(), 80)))
	}
	if run.bodyConsumer != "" && run.bodyConsumer != c.ConsumerID {
		return admissionFailure(ErrAdmissionMismatch, errors.New("token is for another consumer than the request names"))
	}

	now := run.now
	a := &run.adm
	a.ConsumerID, a.Distribution, a.Fingerprint = c.ConsumerID, d, c.Fingerprint
	if c.Position != nil {
		a.Position = *c.Position
	}
	// Both expiries count when present, the earlier one first; at least
	// one must be, and neither may lie beyond an admission's lifetime.
	var exps [2]time.Time
	n := 0
	if c.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, c.ExpiresAt)
		if err != nil {
			return admissionFailure(ErrAdmissionInvalid, errors.New("expiresAt is not an RFC 3339 time"))
		}
		exps[n], n = t, n+1
	}
	if c.RegisteredClaims.ExpiresAt != nil {
		exps[n], n = c.RegisteredClaims.ExpiresAt.Time, n+1
	}
	if n == 0 {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token has no expiry"))
	}
	a.ExpiresAt = exps[0]
	last := exps[0]
	for _, t := range exps[:n] {
		if t.After(now.Add(maxAdmissionLifetime)) {
			return admissionFailure(ErrAdmissionInvalid, errAbsurdLifetime)
		}
		if t.Before(a.ExpiresAt) {
			a.ExpiresAt = t
		}
		if t.After(last) {
			last = t
		}
	}
	if now.After(a.ExpiresAt.Add(m.leeway)) {
		return admissionFailure(ErrAdmissionExpired, nil)
	}
	if c.AdmittedAt != "" {
		t, err := time.Parse(time.RFC3339, c.AdmittedAt)
		if err != nil {
			return admissionFailure(ErrAdmissionInvalid, errors.New("admittedAt is not an RFC 3339 time"))
		}
		if last.Sub(t) > maxAdmissionLifetime {
			return admissionFailure(ErrAdmissionInvalid, errAbsurdLifetime)
		}
		a.AdmittedAt = t
	}
	notBefore := a.AdmittedAt
	if c.NotBefore != nil && c.NotBefore.After(notBefore) {
		notBefore = c.NotBefore.Time
	}
	if notBefore.After(now.Add(m.leeway)) {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token is not valid yet"))
	}
	if m.fingerprint != nil {
		if c.Fingerprint == "" || run.fingerprint == "" ||
			subtle.ConstantTimeCompare([]byte(c.Fingerprint), []byte(run.fingerprint)) != 1 {
			return admissionFailure(ErrAdmissionMismatch, errors.New("fingerprint does not match"))
		}
	}
	return nil
}

// keyfunc is the parser's key callback: it refuses a header it does not
// understand and a payload that repeats a claim, runs the origin checks on
// the decoded payload, then asks the verifier for the key. Refusing here spends no signature check on a token
// that would be refused anyway.
func (m *AdmissionGuard) keyfunc(t *jwt.Token) (any, error) {
	c, ok := t.Claims.(*tokenClaims)
	if !ok || c.run == nil {
		return nil, errors.New("fanfare: unexpected claims type")
	}
	if err := checkHeader(t); err != nil {
		return nil, admissionFailure(ErrAdmissionInvalid, err)
	}
	if err := checkClaimNames(t.Raw); err != nil {
		return nil, admissionFailure(ErrAdmissionInvalid, err)
	}
	if err := c.run.checkClaims(c); err != nil {
		return nil, err
	}
	return m.verifier.Keyfunc(t)
}

// checkHeader refuses a protected header that lists critical extensions
// ("crit", RFC 7515 §4.1.11): golang-jwt understands none and ignores the
// parameter, and a recipient that does not understand one must refuse the
// token.
func checkHeader(t *jwt.Token) error {
	if _, ok := t.Header["crit"]; ok {
		return errors.New("token header lists critical extensions (crit), which are not understood here")
	}
	return nil
}

// decode parses and checks the token, verifying its signature when a
// verifier is configured. It fills run.adm.
func (run *AdmissionHold) decode(token string) *AdmissionError {
	m := run.m
	c := &run.claims
	c.run = run
	if m.verifier != nil {
		_, err := m.verifyingParser.ParseWithClaims(token, c, m.keyfuncFn)
		if err != nil {
			var ae *AdmissionError
			if errors.As(err, &ae) {
				return ae
			}
			return admissionFailure(ErrAdmissionInvalid, err)
		}
		run.adm.Verified = true
		return nil
	}
	t, _, err := m.hintParser.ParseUnverified(token, c)
	if err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	if err := checkHeader(t); err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	if err := checkClaimNames(token); err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	// Without a key the signature cannot be checked, but a token that names
	// no real signing algorithm ("none") is never Fanfare's.
	if !m.hintAlgs[t.Method.Alg()] {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token's signing algorithm is not accepted"))
	}
	return run.checkClaims(c)
}

// everyAlgorithm is every JWS algorithm golang-jwt implements except "none":
// the ones a token's header may name when its signature is not checked here.
var everyAlgorithm = []string{
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}

// strictSegment decodes a token segment as the parsers do
// (jwt.WithStrictDecoding).
var strictSegment = base64.RawURLEncoding.Strict()

// checkClaimNames refuses a token whose payload repeats a claim: the same
// name twice, or two names equal under case folding ("consumerId" beside
// "ConsumerID"), which encoding/json matches to one field and settles
// silently by keeping the last. It asks encoding/json itself which members
// land in which claim, by decoding the payload into counters
// (wire.AdmissionClaimCounts); members that are not claims read here may
// repeat. golang-jwt keeps no copy of the decoded payload, so its segment is
// decoded again; golang-jwt has checked it already.
func checkClaimNames(token string) error {
	_, rest, _ := strings.Cut(token, ".")
	seg, _, _ := strings.Cut(rest, ".")
	payload, err := strictSegment.DecodeString(seg)
	if err != nil {
		return err
	}
	var n wire.AdmissionClaimCounts
	if err := json.Unmarshal(payload, &n); err != nil {
		return err
	}
	if name := n.Repeated(); name != "" {
		return fmt.Errorf("token payload repeats a claim: %q (in some case)", name)
	}
	return nil
}
