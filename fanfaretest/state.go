package fanfaretest

import (
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/internal/wire"
)

// exchangeCodeTTL is how long an exchange code lives (the guide's 60 s).
const exchangeCodeTTL = 60 * time.Second

// accessTokenTTL is the lifetime of the access tokens exchange returns.
const accessTokenTTL = time.Hour

// state is what the emulator knows: identities, exchange codes, admissions,
// lines. One RWMutex guards it; the hot path (validate) takes the read lock
// only for a map lookup, and signing happens outside the lock.
type state struct {
	mu         sync.RWMutex
	consumers  map[identity]string          // external identity → consumer id
	codes      map[string]*exchangeCode     // exchange code → its record
	admissions map[string]*admission        // jti → admission
	byToken    map[string]*admission        // the exact token minted → admission
	byPair     map[pair][]*admission        // (distribution, consumer) → admissions, oldest first
	next       map[fanfare.Distribution]int // last position handed out
	waiting    map[pair]*waiter             // HoldEntries: consumers in line
	lines      map[fanfare.Distribution][]*waiter
}

func (st *state) init() {
	st.consumers = make(map[identity]string)
	st.codes = make(map[string]*exchangeCode)
	st.admissions = make(map[string]*admission)
	st.byToken = make(map[string]*admission)
	st.byPair = make(map[pair][]*admission)
	st.next = make(map[fanfare.Distribution]int)
	st.waiting = make(map[pair]*waiter)
	st.lines = make(map[fanfare.Distribution][]*waiter)
}

type identity struct{ provider, issuer, subject string }

type pair struct {
	dist     fanfare.Distribution
	consumer string
}

type exchangeCode struct {
	id      identity
	claims  map[string]any
	expires time.Time
}

type admission struct {
	jti       string
	token     string
	dist      fanfare.Distribution
	consumer  string
	expires   time.Time
	completed bool
}

// waiter is a consumer in line in HoldEntries mode. resp is set once
// AdmitWaiting admitted it; its next /enter collects the admission.
type waiter struct {
	consumer    string
	fingerprint string // from the first /enter, when Options.FingerprintHeader is set
	position    int
	resp        *wire.EnterResponse
}

// consumerFor returns the consumer id of an external identity, creating one
// (or adopting fallback, when not empty) on first sight. st.mu must be held.
func (st *state) consumerFor(id identity, fallback string) string {
	if c, ok := st.consumers[id]; ok {
		return c
	}
	c := fallback
	if c == "" {
		c = "cons_" + randomHex(10)
	}
	st.consumers[id] = c
	return c
}

// nextPosition hands out the next place in line of d, from 1. st.mu must be
// held.
func (st *state) nextPosition(d fanfare.Distribution) int {
	st.next[d]++
	return st.next[d]
}

// register records a minted admission. st.mu must be held.
func (st *state) register(a *admission) {
	st.admissions[a.jti] = a
	st.byToken[a.token] = a
	p := pair{a.dist, a.consumer}
	st.byPair[p] = append(st.byPair[p], a)
}

// admissionSpec is what a minted admission says.
type admissionSpec struct {
	dist        fanfare.Distribution
	consumer    string
	fingerprint string
	position    int // used for queues only
	ttl         time.Duration
}

// signAdmission signs an admission token for spec and returns it with its
// record and enter response. The record is not registered yet.
func (s *Server) signAdmission(spec admissionSpec) (string, *admission, *wire.EnterResponse) {
	now := s.now()
	iat := now.Truncate(time.Second)
	exp := now.Add(spec.ttl).Truncate(time.Second)
	c := wire.AdmissionClaims{
		ConsumerID:       spec.consumer,
		DistributionID:   spec.dist.ID,
		DistributionType: string(spec.dist.Type),
		AdmittedAt:       iat.UTC().Format(time.RFC3339),
		ExpiresAt:        exp.UTC().Format(time.RFC3339),
		Fingerprint:      spec.fingerprint,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        "adm_" + randomToken(16),
		},
	}
	if spec.dist.Type == fanfare.TypeQueue {
		pos := spec.position
		c.Position = &pos
	}
	token := s.sign(c)
	a := &admission{jti: c.ID, token: token, dist: spec.dist, consumer: spec.consumer, expires: exp}
	resp := &wire.EnterResponse{
		AdmissionToken:   token,
		ConsumerID:       spec.consumer,
		DistributionID:   spec.dist.ID,
		DistributionType: string(spec.dist.Type),
		Position:         c.Position,
		AdmittedAt:       c.AdmittedAt,
		ExpiresAt:        c.ExpiresAt,
	}
	return token, a, resp
}

// sign signs claims with the emulator's key; ES256 tokens carry its kid.
func (s *Server) sign(claims jwt.Claims) string {
	t := jwt.NewWithClaims(s.method, claims)
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	token, err := t.SignedString(s.signKey)
	if err != nil { // only a broken key could cause this
		panic("fanfare: fanfaretest: sign token: " + err.Error())
	}
	return token
}

// accessToken signs an access token for consumer and returns it with its
// expiry.
func (s *Server) accessToken(consumer string, claims map[string]any) (string, time.Time) {
	now := s.now()
	iat := now.Truncate(time.Second)
	exp := now.Add(accessTokenTTL).Truncate(time.Second)
	c := wire.AccessClaims{
		ConsumerID:     consumer,
		OrganizationID: s.OrganizationID,
		SessionID:      "sess_" + randomHex(10),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    wire.AccessTokenIssuer,
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	// Like Fanfare, copy the contact details the merchant shared.
	if v, ok := claims["email"].(string); ok {
		c.Email = v
	}
	if v, ok := claims["phone"].(string); ok {
		c.Phone = v
	}
	return s.sign(c), exp
}

// Admit mints an admission token for consumerID to d, registered exactly as
// /enter registers one (next position in line for queues, TTL
// Options.AdmissionTTL), and returns it. It panics if d is invalid or
// consumerID is empty.
func (s *Server) Admit(d fanfare.Distribution, consumerID string) string {
	return s.AdmitWith(AdmitOptions{Distribution: d, ConsumerID: consumerID})
}

// AdmitOptions says what [Server.AdmitWith] mints.
type AdmitOptions struct {
	// Distribution is the queue, draw or auction admitted to. Required.
	Distribution fanfare.Distribution
	// ConsumerID is the admitted consumer. Required.
	ConsumerID string
	// Fingerprint is written into the token's fingerprint claim when set.
	// Default: "" (no claim).
	Fingerprint string
	// Position is the queue position claim; ignored for draws and auctions,
	// whose tokens carry none. Default: 0, the next place in line.
	Position int
	// TTL is the token's lifetime; a negative TTL mints a token that has
	// already expired. Default: Options.AdmissionTTL.
	TTL time.Duration
}

// AdmitWith mints an admission token as o says and registers it as /enter
// would, so validate and complete know it. It panics if o.Distribution is
// invalid or o.ConsumerID is empty: those are mistakes in the test.
func (s *Server) AdmitWith(o AdmitOptions) string {
	if err := o.Distribution.Validate(); err != nil {
		panic("fanfare: fanfaretest: AdmitWith: " + err.Error())
	}
	if o.ConsumerID == "" {
		panic("fanfare: fanfaretest: AdmitWith: empty ConsumerID")
	}
	spec := admissionSpec{
		dist: o.Distribution, consumer: o.ConsumerID, fingerprint: o.Fingerprint,
		position: o.Position, ttl: o.TTL,
	}
	if spec.ttl == 0 {
		spec.ttl = s.admissionTTL
	}
	_, resp := s.mint(spec)
	return resp.AdmissionToken
}

// mint signs and registers the admission spec says, taking the next place in
// line when spec is for a queue with no position. spec.ttl is used as is.
func (s *Server) mint(spec admissionSpec) (*admission, *wire.EnterResponse) {
	st := &s.state
	if spec.position == 0 && spec.dist.Type == fanfare.TypeQueue {
		st.mu.Lock()
		spec.position = st.nextPosition(spec.dist)
		st.mu.Unlock()
	}
	_, a, resp := s.signAdmission(spec)
	st.mu.Lock()
	st.register(a)
	st.mu.Unlock()
	return a, resp
}

// AdmitWaiting admits every consumer waiting in d's line (HoldEntries mode)
// and returns how many it admitted. Each one's next /enter returns its
// admission token; the token's TTL runs from now.
func (s *Server) AdmitWaiting(d fanfare.Distribution) int {
	return s.admitWaiting(d, -1)
}

// AdmitNext admits the first n consumers waiting in d's line (HoldEntries
// mode), in the order they entered, and returns how many it admitted: fewer
// than n when fewer were waiting. Each one's next /enter returns its
// admission token, as with [Server.AdmitWaiting]. It panics if n is
// negative.
func (s *Server) AdmitNext(d fanfare.Distribution, n int) int {
	if n < 0 {
		panic("fanfare: fanfaretest: AdmitNext: negative n")
	}
	return s.admitWaiting(d, n)
}

// admitWaiting admits up to limit consumers waiting in d's line, all of
// them when limit is negative.
func (s *Server) admitWaiting(d fanfare.Distribution, limit int) int {
	st := &s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, w := range st.lines[d] {
		if limit >= 0 && n >= limit {
			break
		}
		if w.resp != nil {
			continue
		}
		_, a, resp := s.signAdmission(admissionSpec{
			dist: d, consumer: w.consumer, fingerprint: w.fingerprint, position: w.position, ttl: s.admissionTTL,
		})
		st.register(a)
		w.resp = resp
		n++
	}
	return n
}

// Waiting returns how many consumers wait in d's line (HoldEntries mode)
// and have not been admitted yet.
func (s *Server) Waiting(d fanfare.Distribution) int {
	st := &s.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	n := 0
	for _, w := range st.lines[d] {
		if w.resp == nil {
			n++
		}
	}
	return n
}

// AccessToken returns a signed access token for an external identity, as
// /auth/external/exchange would return it, and the consumer id the identity
// maps to (the same one exchange uses). Use it to call /enter directly.
func (s *Server) AccessToken(provider, issuer, subject string) (token, consumerID string) {
	st := &s.state
	st.mu.Lock()
	consumerID = st.consumerFor(identity{provider, issuer, subject}, "")
	st.mu.Unlock()
	token, _ = s.accessToken(consumerID, nil)
	return token, consumerID
}

// Completed reports whether an admission of consumerID to d was completed.
func (s *Server) Completed(d fanfare.Distribution, consumerID string) bool {
	st := &s.state
	st.mu.RLock()
	defer st.mu.RUnlock()
	for _, a := range st.byPair[pair{d, consumerID}] {
		if a.completed {
			return true
		}
	}
	return false
}

// checkAdmission is the verdict of validate: the token is one this emulator
// minted, unexpired by the emulator's clock, not completed, for this
// consumer and this distribution.
func (s *Server) checkAdmission(d fanfare.Distribution, consumer, token string) bool {
	now := s.now()
	st := &s.state

	// Fast path: a token byte-for-byte as minted here carries the signature
	// and claims the record holds, so no crypto is needed. This keeps the
	// emulator cheap under benchmarks that validate thousands of tokens.
	st.mu.RLock()
	a, minted := st.byToken[token]
	if minted {
		valid := a.live(now) && a.consumer == consumer && a.dist == d
		st.mu.RUnlock()
		return valid
	}
	st.mu.RUnlock()

	// Anything else must verify (pinned algorithm, kid, exp by the
	// emulator's clock) and still match a registered admission: with the
	// HS256 secret a test can sign its own tokens, never mint admissions.
	var c wire.AdmissionClaims
	if _, err := s.admissionParser.ParseWithClaims(token, &c, s.keyFunc); err != nil {
		return false
	}
	if c.ConsumerID != consumer || c.DistributionID != d.ID || c.DistributionType != string(d.Type) {
		return false
	}
	if exp, err := time.Parse(time.RFC3339, c.ExpiresAt); err != nil || !now.Before(exp) {
		return false
	}
	st.mu.RLock()
	a, ok := st.admissions[c.ID]
	valid := ok && a.live(now) && a.consumer == consumer && a.dist == d
	st.mu.RUnlock()
	return valid
}

// live reports whether the admission can still be used at now.
func (a *admission) live(now time.Time) bool { return !a.completed && now.Before(a.expires) }

// keyFunc hands the parser the verification key; an ES256 token must name
// the emulator's kid.
func (s *Server) keyFunc(t *jwt.Token) (any, error) {
	if s.kid != "" {
		if kid, _ := t.Header["kid"].(string); kid != s.kid {
			return nil, fmt.Errorf("unknown kid")
		}
	}
	return s.verifyKey, nil
}

// verifyAccess verifies an access token and returns its consumer id.
func (s *Server) verifyAccess(token string) (string, bool) {
	var c wire.AccessClaims
	if _, err := s.accessParser.ParseWithClaims(token, &c, s.keyFunc); err != nil {
		return "", false
	}
	if c.OrganizationID != s.OrganizationID || c.ConsumerID == "" {
		return "", false
	}
	return c.ConsumerID, true
}

// complete completes every live admission of consumer to d. found is false
// when the pair never had an admission.
func (s *Server) complete(d fanfare.Distribution, consumer string) (found bool) {
	st := &s.state
	now := s.now()
	var done []Completion
	st.mu.Lock()
	list := st.byPair[pair{d, consumer}]
	for _, a := range list {
		if a.live(now) {
			a.completed = true
			done = append(done, Completion{Distribution: d, ConsumerID: consumer, At: now})
		}
	}
	st.mu.Unlock()
	s.recorder.addCompletions(done)
	return len(list) > 0
}

// enter handles /enter for an authenticated consumer: an admission (200) or
// a place in line (202, HoldEntries).
func (s *Server) enter(d fanfare.Distribution, consumer, fingerprint string) (admitted *wire.EnterResponse, waiting *wire.EnterWaitingResponse) {
	st := &s.state
	if !s.holdEntries {
		st.mu.Lock()
		pos := st.nextPosition(d)
		st.mu.Unlock()
		_, a, resp := s.signAdmission(admissionSpec{dist: d, consumer: consumer, fingerprint: fingerprint, position: pos, ttl: s.admissionTTL})
		st.mu.Lock()
		st.register(a)
		st.mu.Unlock()
		return resp, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	p := pair{d, consumer}
	w := st.waiting[p]
	if w == nil {
		w = &waiter{consumer: consumer, fingerprint: fingerprint, position: st.nextPosition(d)}
		st.waiting[p] = w
		st.lines[d] = append(st.lines[d], w)
	}
	if w.resp == nil {
		return nil, &wire.EnterWaitingResponse{
			Status: wire.StatusWaiting, ConsumerID: consumer,
			DistributionID: d.ID, DistributionType: string(d.Type), Position: w.position,
		}
	}
	// Admitted: hand the admission over and leave the line.
	delete(st.waiting, p)
	line := st.lines[d]
	for i, x := range line {
		if x == w {
			st.lines[d] = append(line[:i:i], line[i+1:]...)
			break
		}
	}
	return w.resp, nil
}
