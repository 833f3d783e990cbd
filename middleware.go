package fanfare

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AdmissionOptions configures [RequireAdmission]. The zero value of every
// field but the distribution rule is a safe default; exactly one of
// Distribution, Distributions and DistributionFunc must be set.
type AdmissionOptions struct {
	// Distribution is the one queue, draw or auction the route sells.
	// A token for any other distribution is refused.
	Distribution Distribution
	// Distributions is the set of distributions the route sells.
	Distributions []Distribution
	// DistributionFunc names the distribution from the request, e.g.
	// [DistributionFromPath], [DistributionFromCheckoutBody] or
	// [DistributionFromValidateBody]. An error refuses the request with 403
	// ADMISSION_INVALID (503 if it matches [ErrUnavailable]). Note that a
	// distribution read from the request only ties the token to what the
	// request says: restrict the route with Distributions, or in the func,
	// if it must sell only some.
	DistributionFunc func(r *http.Request) (Distribution, error)

	// Header is the request header carrying the admission token; "-"
	// turns it off. Tried first. Default: "Fanfare-Admission".
	Header string
	// Cookie is the cookie carrying the token, tried second.
	// Default: "" (no cookie).
	Cookie string
	// BodyField is the field of a JSON request body carrying the token,
	// tried third, as in the guide's CheckoutRequest; "-" turns it off. The
	// handler still reads the whole body. Default: "admissionToken".
	BodyField string
	// TokenFunc returns the token from the request, tried last.
	// Default: nil.
	TokenFunc func(r *http.Request) (string, error)
	// MaxTokenBytes refuses longer tokens before any parsing.
	// Default: 8192.
	MaxTokenBytes int
	// MaxBodyBytes bounds the JSON body the middleware buffers to read the
	// token and consumer id fields; a larger body is refused (403
	// ADMISSION_INVALID). A body that opens a JSON object is read whatever
	// its Content-Type (Go handlers decode it regardless), but the token is
	// taken only from one declared JSON. Fields are matched as
	// encoding/json matches struct tags (case-insensitively), and a body
	// repeating a field in any case is refused. Default: 1 MiB.
	MaxBodyBytes int64

	// ConsumerField is the field of a JSON request body naming the
	// consumer (the guide's consumerId): when the request names one, it
	// must be the token's consumer. "-" turns the check off.
	// Default: "consumerId".
	ConsumerField string
	// BindConsumer ties the admission to your logged-in user, so that a
	// stolen token is useless to another account: return an error when a
	// (whose claims are checked, but not yet confirmed by Fanfare) does not
	// belong to the request's user. The request is refused with 403
	// ADMISSION_MISMATCH (503 if the error matches [ErrUnavailable]).
	// Default: nil (no binding beyond ConsumerField).
	BindConsumer func(r *http.Request, a *Admission) error
	// Fingerprint returns the request's device fingerprint. When set, the
	// token must carry the same fingerprint (compared in constant time).
	// Default: nil (fingerprints are not checked).
	Fingerprint func(r *http.Request) string
	// Leeway is the clock skew tolerated on the token's expiry and
	// not-before times. Default: 5s.
	Leeway time.Duration

	// Verifier checks the token's signature locally, refusing forged tokens
	// before any call to Fanfare (see [NewHMACVerifier], [NewPEMVerifier],
	// [NewJWKSVerifier]). Without one, the token's claims are only hints
	// until Fanfare confirms them. Default: nil.
	Verifier Verifier
	// DisableRemoteValidation skips the (authoritative) validate call to
	// Fanfare and trusts a locally verified signature alone. It requires a
	// Verifier. Default: false (every admission is validated with Fanfare).
	DisableRemoteValidation bool
	// AcceptVerifiedDuringOutage admits a token whose signature was
	// verified locally when Fanfare cannot be reached (network error,
	// timeout, 5xx). It requires a Verifier. Default: false (503
	// ADMISSION_UNAVAILABLE while Fanfare is unreachable).
	AcceptVerifiedDuringOutage bool
	// RetryAfter is the Retry-After sent with 503 answers. Default: 5s.
	RetryAfter time.Duration

	// Store keeps which admissions are in use and used. Instances behind a
	// load balancer must share one (a Store on Redis, say; the redisstore
	// module is planned, and storetest.Run checks any implementation).
	// Default: one in-memory store shared by every RequireAdmission of the
	// process that sets neither Store nor Clock (a route with its own
	// Clock gets its own in-memory store).
	Store Store
	// HoldTTL bounds how long an admission stays in use if the process
	// dies mid-checkout; keep it above your longest checkout.
	// Default: 1m.
	HoldTTL time.Duration
	// Completion says when the admission is completed with Fanfare.
	// Default: CompleteOnSuccess.
	Completion CompletionMode
	// CompletionTimeout bounds a completion, retries included; after it the
	// failure is logged and reported to AdmissionHooks.OnCompletionFailed.
	// The consumer's response waits for the completion (it usually takes
	// one round trip): nothing is left running after the handler returns.
	// Default: 5s.
	CompletionTimeout time.Duration

	// Clock tells the time tokens expire by. Default: time.Now.
	Clock func() time.Time
	// Logger receives upstream errors and completion failures at warn and
	// error level, and refusals at debug level. Tokens are never logged.
	// Default: slog.Default().
	Logger *slog.Logger
	// ErrorHandler writes the response when a request is refused. err is
	// an *[AdmissionError] matching one of the ErrAdmission… sentinels or
	// [ErrUnavailable]. Default: [DefaultAdmissionErrorHandler].
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Hooks are called on admissions, refusals, upstream errors and failed
	// completions, e.g. for metrics. Default: none.
	Hooks AdmissionHooks
}

// CompletionMode says when [RequireAdmission] completes an admission.
type CompletionMode int

const (
	// CompleteOnSuccess completes the admission after the handler answers
	// 2xx (a handler that writes nothing answers 200). Any other answer, or a
	// panic, releases the admission for another try. The default.
	CompleteOnSuccess CompletionMode = iota
	// CompleteManually leaves completion to the handler, which calls
	// [Admission.Complete] when the order is placed, as in the guide's
	// checkout. An admission not completed when the handler returns is
	// released.
	CompleteManually
)

// AdmissionHooks are optional callbacks of [RequireAdmission]. They run on
// the request's goroutine and must be quick. A hook that panics is
// recovered and logged, and never admits a request: a panic in OnAdmitted
// or OnUpstreamError refuses it with 503.
type AdmissionHooks struct {
	// OnAdmitted runs before the handler, once the admission is held.
	OnAdmitted func(r *http.Request, a *Admission)
	// OnRejected runs for every refused request; err is an *AdmissionError.
	OnRejected func(r *http.Request, err error)
	// OnUpstreamError runs when Fanfare could not answer a validate call or
	// refused our credentials.
	OnUpstreamError func(r *http.Request, err error)
	// OnCompletionFailed runs when an admission could not be completed
	// within CompletionTimeout. The admission stays used in the Store, but
	// Fanfare does not know: reconcile from here (e.g. a queue of retries).
	OnCompletionFailed func(a *Admission, err error)
}

// RequireAdmission returns middleware that lets a request through only with
// a valid Fanfare admission for the route's distribution, one request per
// admission at a time, and completes the admission after the handler
// succeeds. The handler reads the admission with [AdmissionFromContext].
//
// Checks run cheapest first: token extraction and size, decoding into the
// typed payload, distribution, consumer, expiry and fingerprint, the local
// signature check (with a Verifier), BindConsumer, then the validate call to
// Fanfare, which is authoritative. Only then is the admission held in the
// Store, so a forged token cannot lock a consumer out. Concurrent requests
// with one admission: one reaches the handler, the others get 409
// ADMISSION_IN_USE; after a 2xx the admission answers 409 ADMISSION_USED
// here at once, before Fanfare reflects the completion.
//
// The Store key is the organization, the distribution and the consumer id —
// not the token — because Fanfare completes per consumer and distribution: a
// consumer holding two tokens for one drop still checks out once at a time.
//
// The handler receives a ResponseWriter that records the status; it
// implements http.Flusher and unwraps for [http.ResponseController]. A
// handler that hijacks the connection should call Admission.Complete itself.
//
// RequireAdmission panics, with a message starting "fanfare: ", on
// configuration that is a programming error: no distribution rule or more
// than one, an invalid distribution, a nil client without
// DisableRemoteValidation, DisableRemoteValidation or
// AcceptVerifiedDuringOutage without a Verifier, no token source, or a
// negative duration or size.
func RequireAdmission(client *Client, opts AdmissionOptions) func(http.Handler) http.Handler {
	return NewAdmissionGuard(client, opts).Handler
}

// NewAdmissionGuard returns the decision of [RequireAdmission] without the
// net/http plumbing, for framework adapters (the gin, echo and chi modules)
// whose handlers write to the framework's own writer: [AdmissionGuard.Begin]
// checks a request and holds its admission, the adapter runs its handler and
// reports the final status to [AdmissionHold.Finish]. RequireAdmission(client,
// opts) is NewAdmissionGuard(client, opts).Handler.
//
// It takes the same options and panics on the same programming errors as
// RequireAdmission.
func NewAdmissionGuard(client *Client, opts AdmissionOptions) *AdmissionGuard {
	return newAdmissionGuard(client, opts)
}

// Handler returns next behind the guard: the middleware [RequireAdmission]
// returns. It panics if next is nil.
func (g *AdmissionGuard) Handler(next http.Handler) http.Handler {
	if next == nil {
		panic("fanfare: RequireAdmission: nil handler")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, next)
	})
}

// Begin runs every check of [RequireAdmission] on r, cheapest first, and
// when they pass holds the admission in the Store. It returns the request to
// hand on, which is never nil: its body, when the guard read it, is restored,
// and on success its context carries the [Admission] ([AdmissionFromContext]).
//
// On refusal hold is nil and err is an *[AdmissionError]; the refusal is
// already logged and reported to AdmissionHooks.OnRejected, and
// [AdmissionGuard.WriteError] writes the configured answer. On success the
// caller must end the hold with [AdmissionHold.Finish] or
// [AdmissionHold.Release], also when its handler panics:
//
//	r, hold, err := g.Begin(r)
//	if err != nil {
//		g.WriteError(w, r, err)
//		return
//	}
//	defer hold.Release() // when the handler panics; a no-op after Finish
//	serve(w, r)
//	hold.Finish(status) // the status the handler answered
func (g *AdmissionGuard) Begin(r *http.Request) (*http.Request, *AdmissionHold, error) {
	r, hold, ae := g.begin(r)
	if ae != nil {
		return r, nil, ae
	}
	return r, hold, nil
}

// WriteError writes the answer to a refusal of [AdmissionGuard.Begin] with
// AdmissionOptions.ErrorHandler (Default: [DefaultAdmissionErrorHandler]).
func (g *AdmissionGuard) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	g.errorHandler(w, r, err)
}

// AdmissionHold is an admission held by [AdmissionGuard.Begin] for one
// request. End it once the handler is done: Finish with the status of the
// answer, or Release when there is none (a panic). Only the first call
// counts. Both run on the request's goroutine and wait for the Store and, on
// completion, for Fanfare (bounded by AdmissionOptions.CompletionTimeout).
type AdmissionHold struct {
	m      *AdmissionGuard
	now    time.Time
	claims tokenClaims
	adm    Admission
	state  admissionState
	w      statusWriter // RequireAdmission's net/http form only
	ended  bool

	want         Distribution // from DistributionFunc
	bodyConsumer string       // the consumer id the request names, if any
	fingerprint  string       // the request's fingerprint, if checked

	key, owner string
	ctx        context.Context // the handler's request context
}

// Finish ends the hold after the handler answered status. Under
// [CompleteOnSuccess] a 2xx status completes the admission (see
// [Admission.Complete]); any other status, or any status under
// [CompleteManually] when the handler did not complete, releases it for
// another try. Adapters pass the status the client is sent, e.g. 200 for a
// handler that wrote nothing.
func (h *AdmissionHold) Finish(status int) {
	if h.ended {
		return
	}
	h.ended = true
	h.m.finish(h, status >= 200 && status < 300)
}

// Release ends the hold without an answer (the handler panicked, or the
// response was never written): the admission is released for another try,
// unless the handler completed it.
func (h *AdmissionHold) Release() {
	if h.ended {
		return
	}
	h.ended = true
	h.m.finish(h, false)
}

// AdmissionGuard is the framework-neutral core of [RequireAdmission]: its
// configuration, resolved once, and the decision it makes on each request.
// Build one with [NewAdmissionGuard]; it is safe for concurrent use.
type AdmissionGuard struct {
	client *Client
	org    string // the client's organization id, "" without a client
	remote bool

	dist     Distribution
	distSet  map[Distribution]struct{}
	distFunc func(*http.Request) (Distribution, error)

	header        string // canonical header key, or ""
	cookie        string
	bodyField     string
	consumerField string
	tokenFunc     func(*http.Request) (string, error)
	maxToken      int
	maxBody       int64

	bindConsumer func(*http.Request, *Admission) error
	fingerprint  func(*http.Request) string
	leeway       time.Duration

	verifier        Verifier
	verifyingParser *jwt.Parser
	hintParser      *jwt.Parser
	hintAlgs        map[string]bool
	keyfuncFn       jwt.Keyfunc
	acceptVerified  bool
	retryAfter      time.Duration

	store             Store
	holdTTL           time.Duration
	manual            bool
	completionTimeout time.Duration

	clock        func() time.Time
	logger       *slog.Logger
	errorHandler func(http.ResponseWriter, *http.Request, error)
	hooks        AdmissionHooks
}

func newAdmissionGuard(client *Client, o AdmissionOptions) *AdmissionGuard {
	const p = "fanfare: RequireAdmission: "
	rules := 0
	if o.Distribution != (Distribution{}) {
		rules++
	}
	if len(o.Distributions) > 0 {
		rules++
	}
	if o.DistributionFunc != nil {
		rules++
	}
	if rules != 1 {
		panic(p + "set exactly one of Distribution, Distributions and DistributionFunc, so the route says which distribution it sells")
	}
	switch {
	case client == nil && !o.DisableRemoteValidation:
		panic(p + "nil client: pass a *fanfare.Client, or set DisableRemoteValidation together with a Verifier")
	case o.DisableRemoteValidation && o.Verifier == nil:
		panic(p + "DisableRemoteValidation requires a Verifier: without remote validation only a checked signature can admit")
	case o.AcceptVerifiedDuringOutage && o.Verifier == nil:
		panic(p + "AcceptVerifiedDuringOutage requires a Verifier: only a locally verified token can be admitted while Fanfare is down")
	case o.MaxTokenBytes < 0 || o.MaxBodyBytes < 0 || o.Leeway < 0 || o.RetryAfter < 0 || o.HoldTTL < 0 || o.CompletionTimeout < 0:
		panic(p + "negative size or duration")
	case o.Completion != CompleteOnSuccess && o.Completion != CompleteManually:
		panic(p + "unknown Completion mode")
	}

	m := &AdmissionGuard{
		client:            client,
		remote:            !o.DisableRemoteValidation,
		dist:              o.Distribution,
		distFunc:          o.DistributionFunc,
		cookie:            o.Cookie,
		tokenFunc:         o.TokenFunc,
		maxToken:          orDefault(o.MaxTokenBytes, 8<<10),
		maxBody:           orDefault(o.MaxBodyBytes, 1<<20),
		bindConsumer:      o.BindConsumer,
		fingerprint:       o.Fingerprint,
		leeway:            orDefault(o.Leeway, 5*time.Second),
		verifier:          o.Verifier,
		acceptVerified:    o.AcceptVerifiedDuringOutage,
		retryAfter:        orDefault(o.RetryAfter, 5*time.Second),
		store:             o.Store,
		holdTTL:           orDefault(o.HoldTTL, time.Minute),
		manual:            o.Completion == CompleteManually,
		completionTimeout: orDefault(o.CompletionTimeout, 5*time.Second),
		clock:             o.Clock,
		logger:            o.Logger,
		errorHandler:      o.ErrorHandler,
		hooks:             o.Hooks,
	}
	if client != nil {
		m.org = client.OrganizationID()
	}
	if m.dist != (Distribution{}) {
		if err := m.dist.Validate(); err != nil {
			panic(p + "Distribution: " + err.Error())
		}
	}
	if len(o.Distributions) > 0 {
		m.distSet = make(map[Distribution]struct{}, len(o.Distributions))
		for _, d := range o.Distributions {
			if err := d.Validate(); err != nil {
				panic(p + "Distributions: " + err.Error())
			}
			m.distSet[d] = struct{}{}
		}
	}
	if o.Header != "-" {
		m.header = http.CanonicalHeaderKey(orDefault(o.Header, "Fanfare-Admission"))
	}
	if o.BodyField != "-" {
		m.bodyField = orDefault(o.BodyField, "admissionToken")
	}
	if o.ConsumerField != "-" {
		m.consumerField = orDefault(o.ConsumerField, "consumerId")
	}
	if m.header == "" && m.cookie == "" && m.bodyField == "" && m.tokenFunc == nil {
		panic(p + "no token source: Header and BodyField are off, and neither Cookie nor TokenFunc is set")
	}

	strict := []jwt.ParserOption{jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation()}
	if m.verifier != nil {
		algs := m.verifier.Algorithms()
		if len(algs) == 0 {
			panic(p + "the Verifier accepts no algorithm")
		}
		for _, a := range algs {
			if a == "none" || a == "" {
				panic(p + `the Verifier accepts the "none" algorithm`)
			}
		}
		m.verifyingParser = jwt.NewParser(append(strict, jwt.WithValidMethods(append([]string(nil), algs...)))...)
		m.keyfuncFn = m.keyfunc
	}
	m.hintParser = jwt.NewParser(strict...)
	m.hintAlgs = make(map[string]bool, len(everyAlgorithm))
	for _, a := range everyAlgorithm {
		m.hintAlgs[a] = true
	}

	if m.clock == nil {
		m.clock = time.Now
	}
	if m.store == nil {
		if o.Clock == nil {
			m.store = defaultMemoryStore()
		} else {
			m.store = NewMemoryStore(MemoryStoreOptions{Clock: o.Clock})
		}
	}
	if m.errorHandler == nil {
		m.errorHandler = DefaultAdmissionErrorHandler
	}
	return m
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

var defaultMemoryStore = sync.OnceValue(func() *MemoryStore {
	return NewMemoryStore(MemoryStoreOptions{})
})

func (m *AdmissionGuard) log() *slog.Logger {
	if m.logger != nil {
		return m.logger
	}
	return slog.Default()
}

func (run *AdmissionHold) distributionAllowed(d Distribution) bool {
	m := run.m
	switch {
	case m.distSet != nil:
		_, ok := m.distSet[d]
		return ok
	case m.distFunc != nil:
		return d == run.want
	}
	return d == m.dist
}

func (m *AdmissionGuard) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	r, run, ae := m.begin(r)
	if ae != nil {
		m.errorHandler(w, r, ae)
		return
	}
	run.w.ResponseWriter = w
	defer run.Release() // the handler panicked or called runtime.Goexit
	next.ServeHTTP(&run.w, r)
	run.Finish(run.w.finalStatus())
}

// begin is Begin without the interface conversion of its error.
func (m *AdmissionGuard) begin(r *http.Request) (*http.Request, *AdmissionHold, *AdmissionError) {
	run := &AdmissionHold{m: m, now: m.clock()}
	r, ae := m.admit(run, r)
	if ae != nil {
		m.rejected(r, ae)
		return r, nil, ae
	}
	run.adm.run = run
	if m.hooks.OnAdmitted != nil && m.safeHook("OnAdmitted", func() { m.hooks.OnAdmitted(r, &run.adm) }) {
		m.release(run)
		ae := admissionFailure(ErrUnavailable, errors.New("OnAdmitted hook panicked"))
		m.rejected(r, ae)
		return r, nil, ae
	}
	r = r.WithContext(context.WithValue(r.Context(), admissionKey, &run.adm))
	run.ctx = r.Context()
	return r, run, nil
}

// admit runs every check, cheapest first, and holds the admission. It
// returns the request to pass on (its body restored when it was read).
func (m *AdmissionGuard) admit(run *AdmissionHold, r *http.Request) (*http.Request, *AdmissionError) {
	body, r, err := m.readBody(r)
	if err != nil {
		return r, admissionFailure(ErrAdmissionInvalid, err)
	}
	if m.consumerField != "" {
		if run.bodyConsumer, err = body.str(m.consumerField); err != nil {
			return r, admissionFailure(ErrAdmissionMismatch, err)
		}
	}
	// The token is taken only from a body declared JSON: a cross-site form
	// can post text/plain without a preflight. Fields the handler may read
	// are checked whatever the declared type.
	tokenBody := body
	if !isJSON(r.Header) {
		tokenBody = nil
	}
	token, ae := m.token(r, tokenBody)
	if ae != nil {
		return r, ae
	}
	if len(token) > m.maxToken {
		return r, admissionFailure(ErrAdmissionInvalid, fmt.Errorf("token is longer than %d bytes", m.maxToken))
	}
	if m.distFunc != nil {
		d, err := m.distFunc(r)
		if err == nil {
			err = d.Validate()
		}
		if err != nil {
			return r, admissionFailure(orUnavailable(err, ErrAdmissionInvalid), err)
		}
		run.want = d
	}
	if m.fingerprint != nil {
		run.fingerprint = m.fingerprint(r)
	}
	if ae := run.decode(token); ae != nil {
		return r, ae
	}
	a := &run.adm
	if m.bindConsumer != nil {
		if err := m.bindConsumer(r, a); err != nil {
			return r, admissionFailure(orUnavailable(err, ErrAdmissionMismatch), err)
		}
	}
	if m.remote {
		if ae := m.validate(run, r, token); ae != nil {
			return r, ae
		}
	}
	return r, m.acquire(run, r.Context())
}

func orUnavailable(err, otherwise error) error {
	if errors.Is(err, ErrUnavailable) {
		return ErrUnavailable
	}
	return otherwise
}

// validate asks Fanfare, and decides what an unanswered question means.
func (m *AdmissionGuard) validate(run *AdmissionHold, r *http.Request, token string) *AdmissionError {
	a := &run.adm
	ok, err := m.client.ValidateAdmission(r.Context(), a.Distribution, a.ConsumerID, token)
	switch {
	case err == nil && ok:
		a.Validated = true
		return nil
	case err == nil:
		if m.usedHere(r.Context(), a) {
			return admissionFailure(ErrAdmissionUsed, nil)
		}
		return admissionFailure(ErrAdmissionInvalid, errors.New("not validated by Fanfare"))
	case errors.Is(err, ErrUnauthorized):
		// Our own credentials were refused: a misconfiguration that refuses
		// every consumer. Shout, and let consumers retry while it is fixed.
		m.log().Error("fanfare: Fanfare refused the organization id or secret key; every admission is refused until the configuration is fixed",
			"op", "validate", "distribution", a.Distribution.String())
		m.upstreamError(r, err)
		return admissionFailure(ErrUnavailable, err)
	case errors.Is(err, ErrUnavailable):
		if m.usedHere(r.Context(), a) {
			// No need for Fanfare to know the answer: this admission bought
			// its order here. 409 also spares the consumer a retry loop.
			return admissionFailure(ErrAdmissionUsed, nil)
		}
		m.log().Warn("fanfare: cannot validate admission", "distribution", a.Distribution.String(), "error", err)
		if m.upstreamError(r, err) {
			return admissionFailure(ErrUnavailable, err)
		}
		if m.acceptVerified && a.Verified {
			m.log().Warn("fanfare: admitting a locally verified token while Fanfare is unreachable",
				"distribution", a.Distribution.String(), "consumer", a.ConsumerID)
			return nil
		}
		return admissionFailure(ErrUnavailable, err)
	}
	if m.usedHere(r.Context(), a) {
		return admissionFailure(ErrAdmissionUsed, nil)
	}
	return admissionFailure(ErrAdmissionInvalid, err)
}

// usedHere reports whether the store marked a's admission used: Fanfare
// refuses a completed admission as invalid, but the consumer deserves the
// truth (409 ADMISSION_USED). It is asked only on the refusal path, so an
// admitted request still costs one store operation; a store error keeps the
// original refusal.
func (m *AdmissionGuard) usedHere(ctx context.Context, a *Admission) bool {
	used, err := m.store.IsUsed(ctx, admissionKeyOf(m.org, a.Distribution, a.ConsumerID))
	return err == nil && used
}

// upstreamError runs the hook; it reports whether the hook panicked.
func (m *AdmissionGuard) upstreamError(r *http.Request, err error) (panicked bool) {
	if m.hooks.OnUpstreamError == nil {
		return false
	}
	return m.safeHook("OnUpstreamError", func() { m.hooks.OnUpstreamError(r, err) })
}

// Owners are unique per request across processes: a random process prefix
// and a counter.
var (
	ownerPrefix = func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	ownerSeq atomic.Uint64
)

func (m *AdmissionGuard) acquire(run *AdmissionHold, ctx context.Context) *AdmissionError {
	a := &run.adm
	run.key = admissionKeyOf(m.org, a.Distribution, a.ConsumerID)
	run.owner = ownerPrefix + strconv.FormatUint(ownerSeq.Add(1), 36)
	res, err := m.store.Acquire(ctx, run.key, run.owner, m.holdTTL)
	switch {
	case err != nil:
		m.log().Error("fanfare: admission store failed", "op", "acquire", "error", err)
		return admissionFailure(ErrUnavailable, err)
	case res == Acquired:
		return nil
	case res == InUse:
		return admissionFailure(ErrAdmissionInUse, nil)
	case res == Used:
		return admissionFailure(ErrAdmissionUsed, nil)
	}
	return admissionFailure(ErrUnavailable, fmt.Errorf("store answered %d", int(res)))
}

// admissionKeyOf is the Store key of an admission: organization, type,
// distribution id and consumer, the variable parts length-prefixed so no two
// distinct admissions share a key. The organization keeps apart the
// admissions of two Fanfare organizations (or two emulators in one test
// binary) that share a store.
func admissionKeyOf(org string, d Distribution, consumerID string) string {
	return strconv.Itoa(len(org)) + ":" + org + ":" + string(d.Type) + ":" +
		strconv.Itoa(len(d.ID)) + ":" + d.ID + ":" + consumerID
}

// finish completes or releases the admission after the handler returned;
// succeeded reports a 2xx answer.
func (m *AdmissionGuard) finish(run *AdmissionHold, succeeded bool) {
	run.state.mu.Lock()
	completed := run.state.completed
	run.state.mu.Unlock()
	switch {
	case completed:
	case m.manual, !succeeded:
		m.release(run)
	default:
		_ = run.complete(run.ctx)
	}
}

// release frees the hold. It keeps the request's values but not its
// cancellation: a consumer hanging up must not leave the admission held. The
// store bounds the call (the memory store cannot block; a networked store has
// its own timeouts).
func (m *AdmissionGuard) release(run *AdmissionHold) {
	ctx := context.Background()
	if run.ctx != nil {
		ctx = context.WithoutCancel(run.ctx)
	}
	if err := m.store.Release(ctx, run.key, run.owner); err != nil {
		m.log().Error("fanfare: admission store failed; the admission stays in use until HoldTTL passes",
			"op", "release", "error", err)
	}
}

// complete marks the admission used here, then completes it with Fanfare.
func (run *AdmissionHold) complete(ctx context.Context) error {
	m := run.m
	run.state.mu.Lock()
	defer run.state.mu.Unlock()
	if run.state.completed {
		return run.state.err
	}
	run.state.completed = true

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.completionTimeout)
	defer cancel()
	a := &run.adm
	// The mark must outlive the last instant the token is accepted
	// (ExpiresAt+leeway inclusive); a second spares stores that round
	// their TTLs (Redis counts milliseconds).
	usedTTL := max(a.ExpiresAt.Add(m.leeway+time.Second).Sub(m.clock()), m.holdTTL)
	var errs []error
	if err := m.store.MarkUsed(ctx, run.key, usedTTL, nil); err != nil {
		errs = append(errs, fmt.Errorf("fanfare: marking the admission used: %w", err))
	}
	if m.client != nil {
		if err := m.completeRemote(ctx, a.Distribution, a.ConsumerID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		run.state.err = err
		m.log().Error("fanfare: admission not completed", "distribution", a.Distribution.String(),
			"consumer", a.ConsumerID, "error", err)
		if m.hooks.OnCompletionFailed != nil {
			m.safeHook("OnCompletionFailed", func() { m.hooks.OnCompletionFailed(a, err) })
		}
	}
	return run.state.err
}

// completeRemote retries transient failures with backoff until ctx ends. The
// client retries within each call as well; this outer loop carries a
// completion through an outage longer than the client's own budget.
func (m *AdmissionGuard) completeRemote(ctx context.Context, d Distribution, consumerID string) error {
	wait := 100 * time.Millisecond
	for {
		err := m.client.CompleteAdmission(ctx, d, consumerID)
		if err == nil || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// rejected completes a refusal and reports it; the caller writes the answer.
func (m *AdmissionGuard) rejected(r *http.Request, ae *AdmissionError) {
	if ae.Status == http.StatusServiceUnavailable {
		ae.RetryAfter = m.retryAfter
	}
	if l := m.log(); l.Enabled(r.Context(), slog.LevelDebug) {
		l.Debug("fanfare: admission refused", "code", ae.Code, "error", ae)
	}
	if m.hooks.OnRejected != nil {
		m.safeHook("OnRejected", func() { m.hooks.OnRejected(r, ae) })
	}
}

// safeHook runs a user hook, recovering a panic; it reports whether one
// happened.
func (m *AdmissionGuard) safeHook(name string, f func()) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			m.log().Error("fanfare: admission hook panicked; the request is not admitted", "hook", name, "panic", fmt.Sprint(p))
		}
	}()
	f()
	return false
}

// statusWriter records the status the handler answers with. It keeps
// http.Flusher and unwraps for http.ResponseController (hijacking, deadlines,
// full duplex).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx answers are not final
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher; it does nothing when the underlying writer
// cannot flush.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finalStatus is the status of the answer; net/http answers 200 for a
// handler that writes nothing.
func (w *statusWriter) finalStatus() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
