package fanfare

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// This file decodes and checks admission tokens: the typed payload, the
// origin checks, and the parser wiring that runs them before the signature.

// tokenClaims is the typed decode target of an admission token. It carries
// the request being checked so the parser's key callback can run the cheap
// origin checks before the (expensive) signature check.
type tokenClaims struct {
	wire.AdmissionClaims
	run *AdmissionHold
}

// checkClaims checks the decoded payload against the request: shape,
// distribution, consumer, expiry and fingerprint. It fills run.adm.
func (run *AdmissionHold) checkClaims(c *tokenClaims) *AdmissionError {
	m := run.m
	if c.ConsumerID == "" || c.DistributionID == "" {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token lacks consumerId or distributionId"))
	}
	typ, err := ParseDistributionType(c.DistributionType)
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
	// Both expiries count when present; at least one must be.
	if c.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, c.ExpiresAt)
		if err != nil {
			return admissionFailure(ErrAdmissionInvalid, errors.New("expiresAt is not an RFC 3339 time"))
		}
		a.ExpiresAt = t
	}
	if c.RegisteredClaims.ExpiresAt != nil {
		if t := c.RegisteredClaims.ExpiresAt.Time; a.ExpiresAt.IsZero() || t.Before(a.ExpiresAt) {
			a.ExpiresAt = t
		}
	}
	if a.ExpiresAt.IsZero() {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token has no expiry"))
	}
	if now.After(a.ExpiresAt.Add(m.leeway)) {
		return admissionFailure(ErrAdmissionExpired, nil)
	}
	if c.AdmittedAt != "" {
		t, err := time.Parse(time.RFC3339, c.AdmittedAt)
		if err != nil {
			return admissionFailure(ErrAdmissionInvalid, errors.New("admittedAt is not an RFC 3339 time"))
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

// keyfunc is the parser's key callback: it runs the origin checks on the
// decoded payload, then asks the verifier for the key. Refusing here spends
// no signature check on a token that would be refused anyway.
func (m *AdmissionGuard) keyfunc(t *jwt.Token) (any, error) {
	c, ok := t.Claims.(*tokenClaims)
	if !ok || c.run == nil {
		return nil, errors.New("fanfare: unexpected claims type")
	}
	if err := c.run.checkClaims(c); err != nil {
		return nil, err
	}
	return m.verifier.Keyfunc(t)
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
	method, err := parseUnverified(token, c)
	if err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	// Without a key the signature cannot be checked, but a token that names
	// no real signing algorithm ("none", "") is never Fanfare's.
	if !m.hintAlgs[method.Alg()] {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token's signing algorithm is not accepted"))
	}
	if ae := run.checkClaims(c); ae != nil {
		return ae
	}
	return nil
}

// everyAlgorithm is every JWS algorithm golang-jwt implements except "none":
// the ones a token's header may name when its signature is not checked here.
var everyAlgorithm = []string{
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
}

// UnmarshalJSON decodes the payload. golang-jwt hands it the claims segment
// after encoding/json has checked that it is valid JSON. The shape Fanfare
// issues — a flat object of plain strings and integers — is decoded here into
// a single string allocation (every string field is a substring of it);
// anything else (escapes, floats, nested values, audience, keys that differ
// from ours only in case, which encoding/json would still match) is left to
// encoding/json, so both paths always agree. FuzzClaimsDecoding holds them
// to it.
func (c *tokenClaims) UnmarshalJSON(data []byte) error {
	if c.decodeFlat(string(data)) {
		return nil
	}
	c.AdmissionClaims = wire.AdmissionClaims{}
	return json.Unmarshal(data, &c.AdmissionClaims)
}

// decodeFlat decodes the common shape, or reports false having decoded
// something partial that the caller throws away.
func (c *tokenClaims) decodeFlat(s string) bool {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	if i = skipSpace(s, i+1); i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	for {
		key, j, ok := flatString(s, i)
		if !ok {
			return false
		}
		if i = skipSpace(s, j); i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		switch key {
		case "consumerId":
			j, ok = flatStringField(s, i, &c.ConsumerID)
		case "distributionId":
			j, ok = flatStringField(s, i, &c.DistributionID)
		case "distributionType":
			j, ok = flatStringField(s, i, &c.DistributionType)
		case "admittedAt":
			j, ok = flatStringField(s, i, &c.AdmittedAt)
		case "expiresAt":
			j, ok = flatStringField(s, i, &c.AdmissionClaims.ExpiresAt)
		case "fingerprint":
			j, ok = flatStringField(s, i, &c.Fingerprint)
		case "jti":
			j, ok = flatStringField(s, i, &c.ID)
		case "iss":
			j, ok = flatStringField(s, i, &c.Issuer)
		case "sub":
			j, ok = flatStringField(s, i, &c.Subject)
		case "position":
			var n int64
			var null bool
			if n, null, j, ok = flatInt(s, i); ok && int64(int(n)) != n {
				return false // overflows a 32-bit int: encoding/json reports it
			}
			if ok {
				c.Position = nil
				if !null {
					p := int(n)
					c.Position = &p
				}
			}
		case "exp":
			j, ok = flatDate(s, i, &c.RegisteredClaims.ExpiresAt)
		case "nbf":
			j, ok = flatDate(s, i, &c.NotBefore)
		case "iat":
			j, ok = flatDate(s, i, &c.IssuedAt)
		default:
			if foldsToClaim(key) {
				return false
			}
			j, ok = skipValue(s, i)
		}
		if !ok {
			return false
		}
		if i = skipSpace(s, j); i >= len(s) {
			return false
		}
		switch s[i] {
		case ',':
			i = skipSpace(s, i+1)
		case '}':
			return skipSpace(s, i+1) == len(s)
		default:
			return false
		}
	}
}

// claimNames are the JSON names of wire.AdmissionClaims' fields.
var claimNames = [...]string{
	"consumerId", "distributionId", "distributionType", "position", "admittedAt", "expiresAt",
	"fingerprint", "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
}

// foldsToClaim reports a key encoding/json would decode into a field: "aud"
// (not decoded here) or a case variant of a name.
func foldsToClaim(key string) bool {
	for _, n := range claimNames {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// flatString reads a string without escapes at s[i]; encoding/json would
// replace invalid UTF-8, so that is not flat either.
func flatString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			v := s[i+1 : j]
			return v, j + 1, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", j, false
		}
	}
	return "", len(s), false
}

// flatStringField reads a flat string or null (which leaves dst unchanged,
// as encoding/json does).
func flatStringField(s string, i int, dst *string) (int, bool) {
	if strings.HasPrefix(s[i:], "null") {
		return i + 4, true
	}
	v, j, ok := flatString(s, i)
	if ok {
		*dst = v
	}
	return j, ok
}

// flatInt reads an integer of at most 15 digits (exact as a float64, as
// NumericDate parses it) or null.
func flatInt(s string, i int) (n int64, null bool, end int, ok bool) {
	if strings.HasPrefix(s[i:], "null") {
		return 0, true, i + 4, true
	}
	j, neg := i, false
	if j < len(s) && s[j] == '-' {
		neg, j = true, j+1
	}
	start := j
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		n = n*10 + int64(s[j]-'0')
		j++
	}
	digits := j - start
	if digits == 0 || digits > 15 || (digits > 1 && s[start] == '0') {
		return 0, false, j, false
	}
	if j < len(s) && (s[j] == '.' || s[j] == 'e' || s[j] == 'E') {
		return 0, false, j, false
	}
	if neg {
		n = -n
	}
	return n, false, j, true
}

func flatDate(s string, i int, dst **jwt.NumericDate) (int, bool) {
	n, null, j, ok := flatInt(s, i)
	if !ok {
		return j, false
	}
	*dst = nil
	if !null {
		*dst = jwt.NewNumericDate(time.Unix(n, 0))
	}
	return j, true
}

// skipValue skips any JSON value at s[i], which encoding/json has already
// found valid.
func skipValue(s string, i int) (int, bool) {
	depth := 0
	for i < len(s) {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			if i >= len(s) {
				return i, false
			}
			if depth == 0 {
				return i + 1, true
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			if depth--; depth == 0 {
				return i + 1, true
			}
		case ',':
			if depth == 0 {
				return i, true
			}
		}
		i++
	}
	return i, depth == 0
}
