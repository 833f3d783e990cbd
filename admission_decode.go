package fanfare

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitify-io/fanfare-go/internal/wire"
)

// tokenClaims is what golang-jwt decodes a token's payload into; it carries
// the hold, so that the key callback checks claims before the signature.
type tokenClaims struct {
	wire.AdmissionClaims
	run *hold
}

// maxAdmissionLifetime bounds each expiry of a token (exp, expiresAt) after
// now and after its admittedAt. Fanfare's admissions last minutes; the bound
// keeps the hold and used-admission TTLs derived from them from overflowing.
const maxAdmissionLifetime = 7 * 24 * time.Hour

var errAbsurdLifetime = errors.New("token's lifetime is absurd: it expires more than 7 days after now or after admittedAt")

// checkClaims checks the decoded payload against the request and fills
// run.adm.
func (run *hold) checkClaims(c *tokenClaims) *AdmissionError {
	m := run.m
	if c.ConsumerID == "" {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token lacks consumerId"))
	}
	d := Distribution{Type: DistributionType(c.DistributionType), ID: c.DistributionID}
	if err := d.Validate(); err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	if _, ok := m.distSet[d]; !ok && (m.distFunc == nil || d != run.want) {
		return admissionFailure(ErrAdmissionMismatch, fmt.Errorf("token is for %s, not this route's distribution", truncate(d.String(), 80)))
	}
	if run.bodyConsumer != "" && run.bodyConsumer != c.ConsumerID {
		return admissionFailure(ErrAdmissionMismatch, errors.New("token is for another consumer than the request names"))
	}

	now := m.o.Clock()
	a := &run.adm
	a.ConsumerID, a.Distribution, a.Fingerprint = c.ConsumerID, d, c.Fingerprint
	if c.Position != nil {
		a.Position = *c.Position
	}
	// Both expiries count when present: the earlier one ends the admission,
	// and neither may be absurd.
	var last time.Time
	if c.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, c.ExpiresAt)
		if err != nil {
			return admissionFailure(ErrAdmissionInvalid, errors.New("expiresAt is not an RFC 3339 time"))
		}
		a.ExpiresAt, last = t, t
	}
	if e := c.RegisteredClaims.ExpiresAt; e != nil {
		// Not a.ExpiresAt.IsZero(): expiresAt may be the zero instant.
		if c.ExpiresAt == "" || e.Before(a.ExpiresAt) {
			a.ExpiresAt = e.Time
		}
		if c.ExpiresAt == "" || e.After(last) {
			last = e.Time
		}
	}
	if c.ExpiresAt == "" && c.RegisteredClaims.ExpiresAt == nil {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token has no expiry"))
	}
	if last.After(now.Add(maxAdmissionLifetime)) {
		return admissionFailure(ErrAdmissionInvalid, errAbsurdLifetime)
	}
	if now.After(a.ExpiresAt.Add(m.o.Leeway)) {
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
	if notBefore.After(now.Add(m.o.Leeway)) {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token is not valid yet"))
	}
	if m.o.Fingerprint != nil {
		if c.Fingerprint == "" || run.fingerprint == "" ||
			subtle.ConstantTimeCompare([]byte(c.Fingerprint), []byte(run.fingerprint)) != 1 {
			return admissionFailure(ErrAdmissionMismatch, errors.New("fingerprint does not match"))
		}
	}
	return nil
}

// checkToken runs every check that needs no key on a parsed token. A
// protected header listing critical extensions ("crit", RFC 7515 §4.1.11)
// is refused: golang-jwt understands none, and a recipient that does not
// understand one must refuse the token. So is a header or payload that
// repeats a member in any case ("alg" or "consumerId" twice, or
// "consumerId" beside "ConsumerID"): encoding/json keeps the last match,
// another reader of the same token may keep the first.
func (run *hold) checkToken(t *jwt.Token) *AdmissionError {
	if _, ok := t.Header["crit"]; ok {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token header lists critical extensions (crit), which are not understood here"))
	}
	header, rest, _ := strings.Cut(t.Raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	p := run.m.parser
	if err := countMembers(p, "header", header, &wire.HeaderCounts{}); err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	if err := countMembers(p, "payload", payload, &wire.AdmissionClaimCounts{}); err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	return run.checkClaims(&run.claims)
}

// countMembers decodes a token segment, which golang-jwt has decoded once
// already, into counts, and refuses a member counted twice.
func countMembers(p *jwt.Parser, what, segment string, counts interface{ Repeated() string }) error {
	raw, err := p.DecodeSegment(segment)
	if err == nil {
		err = json.Unmarshal(raw, counts)
	}
	if err != nil {
		return fmt.Errorf("token %s: %w", what, err)
	}
	if name := counts.Repeated(); name != "" {
		return fmt.Errorf("token %s repeats %q (in some case)", what, name)
	}
	return nil
}

// checkedKey is the parser's key callback: refusing here spends no
// signature check on a token that would be refused anyway.
func (m *guard) checkedKey(t *jwt.Token) (any, error) {
	if err := t.Claims.(*tokenClaims).run.checkToken(t); err != nil {
		return nil, err
	}
	return m.o.Verifier.Keyfunc(t)
}

// decode parses and checks the token, verifying its signature when a
// verifier is configured. It fills run.adm.
func (run *hold) decode(token string) *AdmissionError {
	m := run.m
	c := &run.claims
	c.run = run
	if m.o.Verifier != nil {
		if _, err := m.parser.ParseWithClaims(token, c, m.keyfunc); err != nil {
			var ae *AdmissionError
			if errors.As(err, &ae) {
				return ae
			}
			return admissionFailure(ErrAdmissionInvalid, err)
		}
		run.adm.Verified = true
		return nil
	}
	t, _, err := m.parser.ParseUnverified(token, c)
	if err != nil {
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	// Without a key the signature cannot be checked, but a token that names
	// no signing algorithm ("none") is never Fanfare's.
	if t.Method == jwt.SigningMethodNone {
		return admissionFailure(ErrAdmissionInvalid, errors.New("token's signing algorithm is not accepted"))
	}
	return run.checkToken(t)
}
