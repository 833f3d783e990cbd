package fanfare

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AdmissionOptions configures [RequireAdmission]. Every field but
// Distribution has a safe default.
type AdmissionOptions struct {
	// Distribution says what the route sells (see [DistributionRule]); a
	// token for another distribution is refused with 403
	// ADMISSION_MISMATCH. Required.
	Distribution DistributionRule

	// Token finds the admission token; tokens over 8 KiB are refused.
	// Default: TokenFrom(HeaderToken("Fanfare-Admission"),
	// BodyToken("admissionToken")).
	Token TokenExtractor
	// MaxBodyBytes bounds the JSON body read (and put back) for the token
	// and consumer fields; a larger body, or one repeating a field in any
	// case, is refused (403 ADMISSION_INVALID). Default: 1 MiB.
	MaxBodyBytes int64
	// ConsumerField is the JSON body field naming the consumer: when the
	// request names one, it must be the token's. Default: "consumerId".
	ConsumerField string
	// BindConsumer ties the admission to your logged-in user, so that a
	// stolen token is useless to another account: return an error when a
	// (not yet confirmed by Fanfare) is not the request's user's: 403
	// ADMISSION_MISMATCH (503 if it matches [ErrUnavailable]). Default: nil.
	BindConsumer func(r *http.Request, a *Admission) error
	// Fingerprint returns the request's device fingerprint, which the token
	// must then carry (compared in constant time). Default: nil.
	Fingerprint func(r *http.Request) string
	// Leeway is the clock skew tolerated on the token's expiry and
	// not-before times, at most 1h. Default: 5s.
	Leeway time.Duration

	// Verifier checks the token's signature locally, refusing forged tokens
	// before any call to Fanfare. Without one, the token's claims are only
	// hints until Fanfare confirms them. Default: nil.
	Verifier Verifier
	// DisableRemoteValidation skips Fanfare's authoritative validate call
	// and trusts a verified signature alone; it requires a Verifier.
	// Default: false.
	DisableRemoteValidation bool
	// AcceptVerifiedDuringOutage admits a verified token while Fanfare
	// cannot be reached (network error, timeout, 5xx); it requires a
	// Verifier. Default: false (503 ADMISSION_UNAVAILABLE, Retry-After: 5).
	AcceptVerifiedDuringOutage bool

	// Store keeps which admissions are in use and used, and the completions
	// owed to Fanfare. Instances behind a load balancer must share one.
	// Default: an in-memory store per organization, shared by the
	// process's guards that set neither Store nor Clock.
	Store Store
	// HoldTTL is a request's lease on its admission, renewed every HoldTTL/3
	// while the handler runs; if the Store loses it, the request's context
	// is canceled. From 10ms to 24h. Default: 30s.
	HoldTTL time.Duration
	// CompleteManually leaves completion to the handler, which calls
	// [Admission.Complete] when the order is placed; an admission not
	// completed when the handler returns is released. Default: false: a 2xx
	// answer (or none) completes it, even if the handler then panics.
	CompleteManually bool
	// Completions delivers the completions the Store records. Default: a
	// worker of the guard's own, running while one is owed. With a shared
	// Store, run a [CompletionWorker] on every instance.
	Completions *CompletionWorker

	// Clock tells the time tokens expire by. Default: time.Now.
	Clock func() time.Time
	// Logger receives upstream and store errors (warn, error) and refusals
	// (debug). Tokens are never logged. Default: slog.Default().
	Logger *slog.Logger
	// ErrorHandler answers every refused request; err is an
	// *[AdmissionError]. Default: [WriteError].
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// OnAdmitted runs once the admission is held, before the handler, e.g.
	// for metrics; a panic in it refuses the request with 503. Default: nil.
	OnAdmitted func(r *http.Request, a *Admission)
}

// RequireAdmission returns middleware that lets a request through only with
// a valid Fanfare admission for the route's distribution, one request per
// admission at a time, and completes the admission after the handler
// succeeds; the handler reads it with [AdmissionFromContext]. The README's
// "Admission-gated checkout" lists the checks and the answers. The
// admission is held (per consumer and distribution) only once every check
// passed, so a forged token cannot lock a consumer out. The handler's
// writer flushes and unwraps; a handler that hijacks counts as a 200.
//
// RequireAdmission panics, with a message starting "fanfare: ", on
// programming errors: no or an invalid Distribution, a nil client without
// DisableRemoteValidation, DisableRemoteValidation or
// AcceptVerifiedDuringOutage without a Verifier, a size or duration out of
// range, a nil handler.
func RequireAdmission(client *Client, opts AdmissionOptions) func(http.Handler) http.Handler {
	m := newGuard(client, opts)
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("fanfare: RequireAdmission: nil handler")
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, run, err := m.begin(w, r)
			if err != nil {
				return
			}
			run.w.ResponseWriter = w
			// On a panic or runtime.Goexit too: a 2xx already written spends
			// the admission, anything else releases it.
			defer func() { run.finish(run.w.status) }()
			next.ServeHTTP(&run.w, r)
			if run.w.status == 0 {
				run.w.status = http.StatusOK // net/http's answer for a handler that writes nothing
			}
		})
	}
}

// NewAdmissionGuard is [RequireAdmission] without the net/http plumbing, for
// adapters whose framework's handlers write to its own writer (the gin and
// echo modules). It takes the same options and panics on the same errors.
//
// begin runs the checks on r. On refusal it answers on w with the
// ErrorHandler and returns the *[AdmissionError]. Otherwise it writes
// nothing and returns the request to hand on and finish, to be called with
// the status the handler answered (0 if none), also when it panics: a 2xx
// completes the admission (unless CompleteManually), anything else releases
// it; only the first call counts.
//
//	r, finish, err := begin(w, r)
//	if err != nil {
//		return // refused and answered
//	}
//	defer func() { finish(statusSoFar()) }()
//	serve(w, r)
func NewAdmissionGuard(client *Client, opts AdmissionOptions) (begin func(w http.ResponseWriter, r *http.Request) (*http.Request, func(status int), error)) {
	m := newGuard(client, opts)
	return func(w http.ResponseWriter, r *http.Request) (*http.Request, func(int), error) {
		r, run, err := m.begin(w, r)
		if err != nil {
			return r, nil, err
		}
		return r, run.finish, nil
	}
}

// guard is the configuration of one RequireAdmission, resolved once.
type guard struct {
	o      AdmissionOptions // defaults filled in
	client *Client
	org    string // the client's organization id, "" without a client

	distSet  distributionSet
	distFunc DistributionFunc

	parser  *jwt.Parser // with the Verifier's algorithms when there is one
	keyfunc jwt.Keyfunc // m.checkedKey, bound once
}

func newGuard(client *Client, o AdmissionOptions) *guard {
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
	case o.HoldTTL > 0 && o.HoldTTL < 10*time.Millisecond:
		panic(p + "HoldTTL below 10ms: the lease would be renewed in a busy loop")
	case o.HoldTTL > 24*time.Hour:
		panic(p + "HoldTTL over 24h: it is how long a crashed process's hold outlives it, and leases are renewed anyway")
	case o.Leeway > time.Hour:
		panic(p + "Leeway over an hour: admissions last minutes")
	}

	m := &guard{client: client}
	if client != nil {
		m.org = client.orgID
	}
	switch rule := o.Distribution.(type) {
	case Distribution:
		m.distSet = AnyOf(rule).(distributionSet)
	case distributionSet:
		m.distSet = rule
	case DistributionFunc:
		if rule == nil {
			panic(p + "nil DistributionFunc")
		}
		m.distFunc = rule
	}
	popts := []jwt.ParserOption{jwt.WithStrictDecoding(), jwt.WithoutClaimsValidation()}
	if o.Verifier != nil {
		algs := o.Verifier.Algorithms()
		if len(algs) == 0 || slices.Contains(algs, "none") || slices.Contains(algs, "") {
			panic(p + `the Verifier accepts no algorithm, or the "none" algorithm`)
		}
		popts = append(popts, jwt.WithValidMethods(append([]string(nil), algs...)))
		m.keyfunc = m.checkedKey
	}
	m.parser = jwt.NewParser(popts...)

	if o.Token == nil {
		o.Token = defaultToken
	}
	o.ConsumerField = cmp.Or(o.ConsumerField, "consumerId")
	o.MaxBodyBytes = cmp.Or(o.MaxBodyBytes, 1<<20)
	o.Leeway = cmp.Or(o.Leeway, 5*time.Second)
	o.HoldTTL = cmp.Or(o.HoldTTL, 30*time.Second)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	switch {
	case o.Store != nil:
	case o.Clock != nil:
		o.Store = NewMemoryStore(MemoryStoreOptions{Clock: o.Clock})
	default: // one per organization: an outbox serves one organization
		s, _ := defaultStores.LoadOrStore(m.org, NewMemoryStore(MemoryStoreOptions{}))
		o.Store = s.(Store)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Completions == nil && client != nil {
		o.Completions = newCompletionWorker(client, o.Store, CompletionWorkerOptions{Logger: o.Logger, Clock: o.Clock}, true)
	}
	if o.ErrorHandler == nil {
		o.ErrorHandler = WriteError
	}
	m.o = o
	return m
}

var defaultStores sync.Map

// begin is NewAdmissionGuard's begin; it returns a nil hold on refusal.
func (m *guard) begin(w http.ResponseWriter, r *http.Request) (*http.Request, *hold, error) {
	run := &hold{m: m}
	r, ae := m.admit(run, r)
	if ae == nil {
		run.adm.run = run
		if m.o.OnAdmitted != nil && m.onAdmittedPanics(r, &run.adm) {
			run.release(r.Context())
			ae = admissionFailure(ErrUnavailable, errors.New("OnAdmitted panicked"))
		}
	}
	if ae != nil {
		m.o.Logger.DebugContext(r.Context(), "fanfare: admission refused", "code", ae.Code, "error", ae)
		m.o.ErrorHandler(w, r, ae)
		return r, nil, ae
	}
	run.ctx, run.cancel = context.WithCancelCause(context.WithValue(r.Context(), admissionKey, &run.adm))
	run.mu.Lock() // the first renewal, which reads run.renewal, waits for it
	run.renewal = time.AfterFunc(m.o.HoldTTL/3, run.renew)
	run.mu.Unlock()
	return r.WithContext(run.ctx), run, nil
}

func (m *guard) onAdmittedPanics(r *http.Request, a *Admission) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			m.o.Logger.Error("fanfare: admission hook panicked; the request is not admitted", "hook", "OnAdmitted", "panic", fmt.Sprint(p))
		}
	}()
	m.o.OnAdmitted(r, a)
	return false
}

// hold is one request's admission, from its checks to finish.
type hold struct {
	m      *guard
	claims tokenClaims
	adm    Admission
	w      statusWriter // RequireAdmission's only

	want         Distribution // from the DistributionFunc
	bodyConsumer string       // the consumer id the request names, if any
	fingerprint  string       // the request's fingerprint, if checked

	key, owner string
	ctx        context.Context // the handler's
	cancel     context.CancelCauseFunc
	renewal    *time.Timer

	mu        sync.Mutex // finish, Complete and the renewals run beside each other
	completed bool       // Complete ran (its local part, at least)
	ended     bool       // finish ran: no more renewals
	released  bool       // finish released the admission: Complete comes too late
	err       error      // Complete's result
}

// finish ends the hold after the handler answered status. Only the first
// call counts; it waits for the Store and, on completion, for one quick
// attempt at Fanfare.
func (run *hold) finish(status int) {
	run.mu.Lock()
	ended, completed := run.ended, run.completed
	run.ended = true // stops a renewal already running from renewing the hold
	run.released = !ended && !completed && (run.m.o.CompleteManually || status < 200 || status >= 300)
	run.mu.Unlock()
	if ended {
		return
	}
	run.renewal.Stop()
	switch {
	case run.released:
		run.release(run.ctx)
	case !completed:
		_ = run.complete(run.ctx)
	}
	run.cancel(nil)
}

// renew extends the lease while the handler runs. A lease found lost
// cancels the request, as another may hold the admission now; other store
// errors are retried at the next tick (the lease outlives two).
func (run *hold) renew() {
	m := run.m
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.ended || run.completed { // released or used: nothing to renew
		return
	}
	err := m.o.Store.Renew(context.WithoutCancel(run.ctx), run.key, run.owner, m.o.HoldTTL)
	if errors.Is(err, ErrHoldLost) {
		m.o.Logger.Error("fanfare: admission hold lost mid-checkout; canceling the request",
			"distribution", run.adm.Distribution.String())
		run.cancel(ErrHoldLost)
		return
	}
	if err != nil {
		m.o.Logger.Warn("fanfare: admission store failed", "op", "renew", "error", err)
	}
	run.renewal.Reset(m.o.HoldTTL / 3)
}

// admit runs every check, cheapest first, and holds the admission. It
// returns the request to pass on (its body restored when it was read).
func (m *guard) admit(run *hold, r *http.Request) (*http.Request, *AdmissionError) {
	if r.Body != nil && r.Body != http.NoBody { // shared with BodyToken and DistributionFromBody
		body, err := decodeBody(r, m.o.MaxBodyBytes)
		if err != nil {
			return r, admissionFailure(ErrAdmissionInvalid, err)
		}
		r = r.WithContext(context.WithValue(r.Context(), requestBodyKey, body))
		if run.bodyConsumer, err = body.str(m.o.ConsumerField); err != nil {
			return r, admissionFailure(ErrAdmissionMismatch, err)
		}
	}
	token, err := m.o.Token(r)
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
	if m.o.Fingerprint != nil {
		run.fingerprint = m.o.Fingerprint(r)
	}
	if ae := run.decode(token); ae != nil {
		return r, ae
	}
	if m.o.BindConsumer != nil {
		if err := m.o.BindConsumer(r, &run.adm); err != nil {
			return r, admissionFailure(orUnavailable(err, ErrAdmissionMismatch), err)
		}
	}
	if !m.o.DisableRemoteValidation {
		if ae := m.validate(r.Context(), &run.adm, token); ae != nil {
			return r, ae
		}
	}
	run.key = admissionKeyOf(m.org, run.adm.Distribution, run.adm.ConsumerID)
	run.owner = newOwner()
	// Not the request's cancellation: a hang-up must not leave a hold nobody releases.
	err = m.o.Store.Acquire(context.WithoutCancel(r.Context()), run.key, run.owner, m.o.HoldTTL)
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, ErrAdmissionInUse):
		return r, admissionFailure(ErrAdmissionInUse, nil)
	case errors.Is(err, ErrAdmissionUsed):
		return r, admissionFailure(ErrAdmissionUsed, nil)
	}
	m.o.Logger.Error("fanfare: admission store failed", "op", "acquire", "error", err)
	run.release(r.Context()) // the hold may have been taken before the answer was lost
	return r, admissionFailure(ErrUnavailable, err)
}

func orUnavailable(err, otherwise error) error {
	if errors.Is(err, ErrUnavailable) {
		return ErrUnavailable
	}
	return otherwise
}

// validate asks Fanfare, and decides what an unanswered question means.
// Fanfare refuses a completed admission as invalid, so a refusal asks the
// Store whether it was used here: the consumer deserves the truth (409
// ADMISSION_USED, which also spares it a retry loop during an outage).
func (m *guard) validate(ctx context.Context, a *Admission, token string) *AdmissionError {
	ok, err := m.client.ValidateAdmission(ctx, a.Distribution, a.ConsumerID, token)
	switch {
	case err == nil && ok:
		a.Validated = true
		return nil
	case errors.Is(err, ErrUnauthorized): // our own credentials: let consumers retry meanwhile
		m.o.Logger.Error("fanfare: Fanfare refused the organization id or secret key; every admission is refused until the configuration is fixed",
			"op", "validate", "distribution", a.Distribution.String())
		return admissionFailure(ErrUnavailable, err)
	}
	if used, serr := m.o.Store.IsUsed(ctx, admissionKeyOf(m.org, a.Distribution, a.ConsumerID)); serr == nil && used {
		return admissionFailure(ErrAdmissionUsed, nil)
	}
	switch {
	case err == nil:
		return admissionFailure(ErrAdmissionInvalid, errors.New("not validated by Fanfare"))
	case !errors.Is(err, ErrUnavailable):
		return admissionFailure(ErrAdmissionInvalid, err)
	}
	m.o.Logger.Warn("fanfare: cannot validate admission", "distribution", a.Distribution.String(), "error", err)
	if m.o.AcceptVerifiedDuringOutage && a.Verified {
		m.o.Logger.Warn("fanfare: admitting a locally verified token while Fanfare is unreachable",
			"distribution", a.Distribution.String(), "consumer", a.ConsumerID)
		return nil
	}
	return admissionFailure(ErrUnavailable, err)
}

// newOwner names a hold, unique across requests and processes.
func newOwner() string { return rand.Text() }

// admissionKeyOf is the Store key of an admission, the variable parts
// length-prefixed so no two admissions share a key. The organization keeps
// apart two Fanfare organizations (or two emulators in one test binary)
// sharing a store.
func admissionKeyOf(org string, d Distribution, consumerID string) string {
	return strconv.Itoa(len(org)) + ":" + org + ":" + string(d.Type) + ":" +
		strconv.Itoa(len(d.ID)) + ":" + d.ID + ":" + consumerID
}

// release frees the hold, keeping ctx's values but not its cancellation: a
// consumer hanging up must not leave the admission held.
func (run *hold) release(ctx context.Context) {
	if err := run.m.o.Store.Release(context.WithoutCancel(ctx), run.key, run.owner); err != nil {
		run.m.o.Logger.Error("fanfare: admission store failed; the admission stays in use until its hold runs out",
			"op", "release", "error", err)
	}
}

// complete is [Admission.Complete].
func (run *hold) complete(ctx context.Context) error {
	m := run.m
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.completed {
		return run.err
	}
	if run.released { // another request may hold the admission now
		return errors.New("fanfare: complete: the admission was released when the handler returned without completing it")
	}
	run.completed = true

	ctx = context.WithoutCancel(ctx)
	a := &run.adm
	// The mark must outlive the last instant the token is accepted
	// (ExpiresAt+leeway inclusive); a second spares stores that round
	// their TTLs (Redis counts milliseconds). Sub saturates; so do stores.
	usedTTL := max(a.ExpiresAt.Add(m.o.Leeway+time.Second).Sub(m.o.Clock()), m.o.HoldTTL)
	var c *Completion
	if m.client != nil {
		c = &Completion{ID: run.key, Distribution: a.Distribution, ConsumerID: a.ConsumerID}
	}
	if err := m.o.Store.MarkUsed(ctx, run.key, usedTTL, c); err != nil {
		run.err = fmt.Errorf("fanfare: marking the admission used: %w", err)
		m.o.Logger.Error("fanfare: admission not marked used; it stays held until its lease runs out",
			"distribution", a.Distribution.String(), "error", err)
		if c != nil { // without the store, only Fanfare can spend the admission now
			if err := m.client.CompleteAdmission(ctx, a.Distribution, a.ConsumerID); err != nil {
				m.o.Logger.Error("fanfare: admission not completed either; reconcile it by hand",
					"distribution", a.Distribution.String(), "consumer", a.ConsumerID, "error", err)
			}
		}
		return run.err
	}
	if c != nil { // one quick attempt; the outbox delivers what it misses
		m.o.Completions.deliverNow(ctx, *c)
	}
	return nil
}

// statusWriter records the status the handler answers with.
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

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
