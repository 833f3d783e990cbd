package fanfare

import (
	"cmp"
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

// AdmissionOptions configures [RequireAdmission]. Every field but
// Distribution has a safe default.
type AdmissionOptions struct {
	// Distribution says what the route sells: one distribution
	// (fanfare.Queue("q_1")), a set ([AnyOf]) or the one the request names
	// ([DistributionFunc], e.g. [DistributionFromPath]). A token for any
	// other distribution is refused with 403 ADMISSION_MISMATCH. Required.
	Distribution DistributionRule

	// Token finds the admission token in the request; tokens longer than
	// 8 KiB are refused. Default:
	// TokenFrom(HeaderToken("Fanfare-Admission"), BodyToken("admissionToken")),
	// which refuses a request whose header and body carry different tokens.
	Token TokenExtractor
	// MaxBodyBytes bounds the JSON body the middleware buffers to read the
	// token and consumer fields; a larger body is refused (403
	// ADMISSION_INVALID). A body that opens a JSON object is read whatever
	// its Content-Type (Go handlers decode it regardless); fields match as
	// encoding/json matches struct tags (case-insensitively), and a body
	// repeating a field in any case is refused. Default: 1 MiB.
	MaxBodyBytes int64
	// ConsumerField is the field of a JSON request body naming the
	// consumer (the guide's consumerId): when the request names one, it
	// must be the token's consumer. Default: "consumerId".
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
	// ADMISSION_UNAVAILABLE, Retry-After: 5, while Fanfare is unreachable).
	AcceptVerifiedDuringOutage bool

	// Store keeps which admissions are in use and used, and the
	// completions owed to Fanfare. Instances behind a load balancer must
	// share one (the redisstore module's, on Redis). Default: an in-memory
	// store per organization, shared by every RequireAdmission of the
	// process that sets neither Store nor Clock.
	Store Store
	// HoldTTL is the lease of a request on its admission. The middleware
	// renews the lease every HoldTTL/3 while the handler runs, so a
	// checkout may take longer; the lease runs out only when the process
	// died (or cannot reach the Store): then another request may use the
	// admission, and this request's context is canceled. At least 10ms.
	// Default: 30s.
	HoldTTL time.Duration
	// CompleteManually leaves completion to the handler, which calls
	// [Admission.Complete] when the order is placed, as in the guide's
	// checkout; an admission not completed when the handler returns is
	// released. Default: false, the admission is completed once the
	// handler answers 2xx (a handler that writes nothing answers 200):
	// once a 2xx status is written the admission is spent, even if the
	// handler then panics or the client hangs up, and any other answer, or
	// a panic before any answer, releases it for another try.
	CompleteManually bool
	// Completions delivers the completions the Store records. Default: a
	// worker of the middleware's own, started when a completion is owed
	// and stopped when none is: enough for one instance. With a shared
	// Store, run a [CompletionWorker] on every instance (and Close it on
	// shutdown) so that instances take over each other's completions.
	Completions *CompletionWorker

	// Clock tells the time tokens expire by. Default: time.Now.
	Clock func() time.Time
	// Logger receives upstream and store errors at warn and error level,
	// and refusals at debug level. Tokens are never logged.
	// Default: slog.Default().
	Logger *slog.Logger
	// ErrorHandler writes the response when a request is refused; it sees
	// every refusal (count them here for metrics). err is an
	// *[AdmissionError] matching one of the ErrAdmission… sentinels or
	// [ErrUnavailable]. Default: [WriteAdmissionError].
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// OnAdmitted runs before the handler, once the admission is held, e.g.
	// for metrics. It runs on the request's goroutine and must be quick; a
	// panic in it is recovered, logged, and refuses the request with 503.
	// Default: nil.
	OnAdmitted func(r *http.Request, a *Admission)
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
// Completing marks the admission used and records the completion owed to
// Fanfare in one atomic Store step; the consumer's answer then waits for one
// quick attempt at Fanfare (at most 100 ms), and a completion Fanfare did
// not accept is delivered later by the Completions worker, with backoff,
// until Fanfare accepts it.
//
// The Store key is the organization, the distribution and the consumer id —
// not the token — because Fanfare completes per consumer and distribution: a
// consumer holding two tokens for one drop still checks out once at a time.
//
// The handler receives a ResponseWriter that records the status; it
// implements http.Flusher and unwraps for [http.ResponseController]. A
// handler that hijacks the connection counts as a 200.
//
// RequireAdmission panics, with a message starting "fanfare: ", on
// configuration that is a programming error: no Distribution, an invalid
// distribution, a nil client without DisableRemoteValidation,
// DisableRemoteValidation or AcceptVerifiedDuringOutage without a Verifier,
// or a negative duration or size.
func RequireAdmission(client *Client, opts AdmissionOptions) func(http.Handler) http.Handler {
	return newAdmissionGuard(client, opts).handler
}

// NewAdmissionGuard returns the decision of [RequireAdmission] without the
// net/http plumbing, for framework adapters (the gin and echo modules) whose
// handlers write to the framework's own writer: [AdmissionGuard.Begin]
// checks a request and holds its admission or answers its refusal, the
// adapter runs its handler and reports the final status to
// [AdmissionHold.Finish].
//
// It takes the same options and panics on the same programming errors as
// RequireAdmission.
func NewAdmissionGuard(client *Client, opts AdmissionOptions) *AdmissionGuard {
	return newAdmissionGuard(client, opts)
}

// handler returns next behind the guard: the middleware [RequireAdmission]
// returns. It panics if next is nil.
func (g *AdmissionGuard) handler(next http.Handler) http.Handler {
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
// and on success its context carries the [Admission] ([AdmissionFromContext])
// and is canceled if the hold is lost.
//
// On refusal Begin logs the refusal and answers it on w with
// AdmissionOptions.ErrorHandler (Default: [WriteAdmissionError]); it returns
// a nil hold and the *[AdmissionError] the ErrorHandler was given, and the
// caller only stops. On success it writes nothing to w, and the caller must
// end the hold with [AdmissionHold.Finish], also when its handler panics:
//
//	r, hold, err := g.Begin(w, r)
//	if err != nil {
//		return // refused and answered
//	}
//	defer func() { hold.Finish(statusSoFar()) }() // 0 when nothing was written
//	serve(w, r)
func (g *AdmissionGuard) Begin(w http.ResponseWriter, r *http.Request) (*http.Request, *AdmissionHold, error) {
	r, hold, ae := g.begin(w, r)
	if ae != nil {
		return r, nil, ae
	}
	return r, hold, nil
}

// AdmissionHold is an admission held by [AdmissionGuard.Begin] for one
// request. End it once the handler is done with Finish. Only the first call
// counts. It runs on the request's goroutine and waits for the Store and,
// on completion, for one quick attempt at Fanfare.
type AdmissionHold struct {
	m      *AdmissionGuard
	now    time.Time
	claims tokenClaims
	adm    Admission
	state  admissionState
	w      statusWriter // RequireAdmission's net/http form only
	ended  bool

	want         Distribution // from the DistributionFunc
	bodyConsumer string       // the consumer id the request names, if any
	fingerprint  string       // the request's fingerprint, if checked

	key, owner string
	ctx        context.Context // the handler's request context
	cancel     context.CancelCauseFunc
	renewal    *time.Timer
}

// Finish ends the hold after the handler answered status; pass 0 when the
// handler wrote nothing before it panicked or the connection failed. By
// default a 2xx status completes the admission (see [Admission.Complete]);
// any other status, or any status with AdmissionOptions.CompleteManually
// when the handler did not complete, releases it for another try. Adapters
// pass the status the client is sent, e.g. 200 for a handler that returned
// without writing.
func (h *AdmissionHold) Finish(status int) {
	if h.ended {
		return
	}
	h.ended = true
	h.m.finish(h, status >= 200 && status < 300)
}

// AdmissionGuard is the framework-neutral core of [RequireAdmission]: its
// configuration, resolved once, and the decision it makes on each request.
// Build one with [NewAdmissionGuard]; it is safe for concurrent use.
type AdmissionGuard struct {
	client *Client
	org    string // the client's organization id, "" without a client
	remote bool

	dist     Distribution
	distSet  distributionSet
	distFunc DistributionFunc

	token         TokenExtractor
	consumerField string
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

	store       Store
	holdTTL     time.Duration
	manual      bool
	completions *CompletionWorker

	clock        func() time.Time
	logger       *slog.Logger
	errorHandler func(http.ResponseWriter, *http.Request, error)
	onAdmitted   func(*http.Request, *Admission)
}

// minHoldTTL keeps lease renewals (every HoldTTL/3) from spinning.
const minHoldTTL = 10 * time.Millisecond

// admissionRetryAfter is the Retry-After of 503 answers.
const admissionRetryAfter = 5 * time.Second

// firstAttemptTimeout bounds the one attempt at completing with Fanfare that
// the consumer's answer waits for; the outbox delivers what it misses.
const firstAttemptTimeout = 100 * time.Millisecond

func newAdmissionGuard(client *Client, o AdmissionOptions) *AdmissionGuard {
	const p = "fanfare: RequireAdmission: "
	switch {
	case o.Distribution == nil:
		panic(p + "no Distribution: say which distribution the route sells")
	case client == nil && !o.DisableRemoteValidation:
		panic(p + "nil client: pass a *fanfare.Client, or set DisableRemoteValidation together with a Verifier")
	case o.DisableRemoteValidation && o.Verifier == nil:
		panic(p + "DisableRemoteValidation requires a Verifier: without remote validation only a checked signature can admit")
	case o.AcceptVerifiedDuringOutage && o.Verifier == nil:
		panic(p + "AcceptVerifiedDuringOutage requires a Verifier: only a locally verified token can be admitted while Fanfare is down")
	case o.MaxBodyBytes < 0 || o.Leeway < 0 || o.HoldTTL < 0:
		panic(p + "negative size or duration")
	case o.HoldTTL > 0 && o.HoldTTL < minHoldTTL:
		panic(p + "HoldTTL below 10ms: the lease would be renewed in a busy loop")
	}

	m := &AdmissionGuard{
		client:         client,
		remote:         !o.DisableRemoteValidation,
		token:          o.Token,
		consumerField:  cmp.Or(o.ConsumerField, "consumerId"),
		maxBody:        cmp.Or(o.MaxBodyBytes, 1<<20),
		bindConsumer:   o.BindConsumer,
		fingerprint:    o.Fingerprint,
		leeway:         cmp.Or(o.Leeway, 5*time.Second),
		verifier:       o.Verifier,
		acceptVerified: o.AcceptVerifiedDuringOutage,
		store:          o.Store,
		holdTTL:        cmp.Or(o.HoldTTL, 30*time.Second),
		manual:         o.CompleteManually,
		completions:    o.Completions,
		clock:          o.Clock,
		logger:         o.Logger,
		errorHandler:   o.ErrorHandler,
		onAdmitted:     o.OnAdmitted,
	}
	if client != nil {
		m.org = client.OrganizationID()
	}
	switch rule := o.Distribution.(type) {
	case Distribution:
		if err := rule.Validate(); err != nil {
			panic(p + "Distribution: " + err.Error())
		}
		m.dist = rule
	case distributionSet:
		m.distSet = rule
	case DistributionFunc:
		if rule == nil {
			panic(p + "nil DistributionFunc")
		}
		m.distFunc = rule
	}
	if m.token == nil {
		m.token = defaultToken
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
			m.store = defaultMemoryStore(m.org)
		} else {
			m.store = NewMemoryStore(MemoryStoreOptions{Clock: o.Clock})
		}
	}
	if m.completions == nil && client != nil {
		m.completions = newCompletionWorker(client, m.store, CompletionWorkerOptions{Logger: o.Logger}, true)
	}
	if m.errorHandler == nil {
		m.errorHandler = WriteAdmissionError
	}
	return m
}

// defaultStores are the default in-memory stores, one per organization: an
// outbox serves one organization.
var defaultStores sync.Map // org → Store

func defaultMemoryStore(org string) Store {
	if s, ok := defaultStores.Load(org); ok {
		return s.(Store)
	}
	s, _ := defaultStores.LoadOrStore(org, NewMemoryStore(MemoryStoreOptions{}))
	return s.(Store)
}

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
	r, run, ae := m.begin(w, r)
	if ae != nil {
		return
	}
	run.w.ResponseWriter = w
	// A panic or runtime.Goexit: a 2xx already written still spends the
	// admission; anything else releases it.
	defer func() { run.Finish(run.w.status) }()
	next.ServeHTTP(&run.w, r)
	run.w.status = run.w.finalStatus()
}

// begin is Begin without the interface conversion of its error.
func (m *AdmissionGuard) begin(w http.ResponseWriter, r *http.Request) (*http.Request, *AdmissionHold, *AdmissionError) {
	run := &AdmissionHold{m: m, now: m.clock()}
	r, ae := m.admit(run, r)
	if ae != nil {
		m.refuse(w, r, ae)
		return r, nil, ae
	}
	run.adm.run = run
	if m.onAdmitted != nil && m.safeHook("OnAdmitted", func() { m.onAdmitted(r, &run.adm) }) {
		m.release(run)
		ae := admissionFailure(ErrUnavailable, errors.New("OnAdmitted panicked"))
		m.refuse(w, r, ae)
		return r, nil, ae
	}
	ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), admissionKey, &run.adm))
	r = r.WithContext(ctx)
	run.ctx, run.cancel = ctx, cancel
	run.renewal = time.AfterFunc(m.holdTTL/3, run.renew)
	return r, run, nil
}

// renew extends the lease while the handler runs. A lease found lost
// cancels the request: another request may hold the admission now. Other
// store errors are retried at the next tick; the lease outlives two.
func (run *AdmissionHold) renew() {
	m := run.m
	run.state.mu.Lock()
	defer run.state.mu.Unlock()
	if run.state.ended {
		return
	}
	err := m.store.Renew(context.WithoutCancel(run.ctx), run.key, run.owner, m.holdTTL)
	if errors.Is(err, ErrHoldLost) {
		m.log().Error("fanfare: admission hold lost mid-checkout; canceling the request",
			"distribution", run.adm.Distribution.String())
		run.cancel(ErrHoldLost)
		return
	}
	if err != nil {
		m.log().Warn("fanfare: admission store failed", "op", "renew", "error", err)
	}
	run.renewal.Reset(m.holdTTL / 3)
}

// admit runs every check, cheapest first, and holds the admission. It
// returns the request to pass on (its body restored when it was read).
func (m *AdmissionGuard) admit(run *AdmissionHold, r *http.Request) (*http.Request, *AdmissionError) {
	body, r, err := m.readBody(r)
	if err != nil {
		return r, admissionFailure(ErrAdmissionInvalid, err)
	}
	if run.bodyConsumer, err = body.str(m.consumerField); err != nil {
		return r, admissionFailure(ErrAdmissionMismatch, err)
	}
	token, err := m.token(r)
	switch {
	case err != nil:
		return r, admissionFailure(orUnavailable(err, ErrAdmissionInvalid), err)
	case token == "":
		return r, admissionFailure(ErrAdmissionRequired, nil)
	case len(token) > maxTokenBytes:
		return r, admissionFailure(ErrAdmissionInvalid, fmt.Errorf("token is longer than %d bytes", maxTokenBytes))
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
		return admissionFailure(ErrUnavailable, err)
	case errors.Is(err, ErrUnavailable):
		if m.usedHere(r.Context(), a) {
			// No need for Fanfare to know the answer: this admission bought
			// its order here. 409 also spares the consumer a retry loop.
			return admissionFailure(ErrAdmissionUsed, nil)
		}
		m.log().Warn("fanfare: cannot validate admission", "distribution", a.Distribution.String(), "error", err)
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

func newOwner() string { return ownerPrefix + strconv.FormatUint(ownerSeq.Add(1), 36) }

func (m *AdmissionGuard) acquire(run *AdmissionHold, ctx context.Context) *AdmissionError {
	a := &run.adm
	run.key = admissionKeyOf(m.org, a.Distribution, a.ConsumerID)
	run.owner = newOwner()
	err := m.store.Acquire(ctx, run.key, run.owner, m.holdTTL)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrAdmissionInUse):
		return admissionFailure(ErrAdmissionInUse, nil)
	case errors.Is(err, ErrAdmissionUsed):
		return admissionFailure(ErrAdmissionUsed, nil)
	}
	m.log().Error("fanfare: admission store failed", "op", "acquire", "error", err)
	return admissionFailure(ErrUnavailable, err)
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
	run.renewal.Stop()
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
	run.state.mu.Lock()
	run.state.ended = true
	run.state.mu.Unlock()
	run.cancel(nil)
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
		m.log().Error("fanfare: admission store failed; the admission stays in use until its hold runs out",
			"op", "release", "error", err)
	}
}

// complete marks the admission used and records its completion in one
// store step, then makes one quick attempt at Fanfare; the outbox delivers
// what that attempt misses.
func (run *AdmissionHold) complete(ctx context.Context) error {
	m := run.m
	run.state.mu.Lock()
	defer run.state.mu.Unlock()
	if run.state.completed {
		return run.state.err
	}
	run.state.completed = true

	ctx = context.WithoutCancel(ctx)
	a := &run.adm
	// The mark must outlive the last instant the token is accepted
	// (ExpiresAt+leeway inclusive); a second spares stores that round
	// their TTLs (Redis counts milliseconds). Sub saturates; so do stores.
	usedTTL := max(a.ExpiresAt.Add(m.leeway+time.Second).Sub(m.clock()), m.holdTTL)
	var c *Completion
	if m.client != nil {
		c = &Completion{ID: run.key, Distribution: a.Distribution, ConsumerID: a.ConsumerID}
	}
	if err := m.store.MarkUsed(ctx, run.key, usedTTL, c); err != nil {
		run.state.err = fmt.Errorf("fanfare: marking the admission used: %w", err)
		m.log().Error("fanfare: admission not marked used; it stays held until its lease runs out",
			"distribution", a.Distribution.String(), "error", err)
		if c != nil {
			// Without the store, only Fanfare can spend the admission now.
			if err := m.client.CompleteAdmission(ctx, a.Distribution, a.ConsumerID); err != nil {
				m.log().Error("fanfare: admission not completed either; reconcile it by hand",
					"distribution", a.Distribution.String(), "consumer", a.ConsumerID, "error", err)
			}
		}
		return run.state.err
	}
	if c != nil {
		m.completions.deliverNow(ctx, *c, firstAttemptTimeout)
	}
	return nil
}

// refuse completes a refusal, logs it and answers it on w with the
// ErrorHandler.
func (m *AdmissionGuard) refuse(w http.ResponseWriter, r *http.Request, ae *AdmissionError) {
	if ae.Status == http.StatusServiceUnavailable {
		ae.RetryAfter = admissionRetryAfter
	}
	if l := m.log(); l.Enabled(r.Context(), slog.LevelDebug) {
		l.Debug("fanfare: admission refused", "code", ae.Code, "error", ae)
	}
	m.errorHandler(w, r, ae)
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
