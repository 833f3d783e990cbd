package fanfare

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// RateLimitOptions configures [RateLimitAuthorize]. The zero value is the
// vendor guide's policy: 10 requests per minute per logged-in user (per
// client IP for anonymous requests), held in memory, failing closed.
type RateLimitOptions struct {
	// Limiter decides and counts. Default: a [MemoryLimiter] enforcing
	// Limit with Clock. Share a Redis limiter between instances to limit a
	// user across all of them.
	Limiter Limiter

	// Limit is the policy of the default limiter; leave it zero when
	// setting Limiter. Default: 10 requests per 1 minute.
	Limit Limit

	// KeyFunc returns the key a request is counted under, e.g. a tenant or
	// an API key. Returning "" falls back to the default key; an error
	// refuses the request as a limiter error would. Its keys live in their
	// own namespace, so no value it returns can touch a user's or an IP's
	// budget. Default: nil — the Subject of the Identity in the request
	// context (see WithIdentity), else the client IP.
	KeyFunc func(r *http.Request) (string, error)

	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Real-IP headers are believed when finding the client IP (see
	// ClientIP and ParseTrustedProxies). Never list a range that clients
	// can send from: they could then pick any IP, and a fresh budget with
	// it. Default: none — the connection's peer address is the client.
	TrustedProxies []netip.Prefix

	// IPv6PrefixLen is the length of the prefix an IPv6 client is counted
	// under: one subscriber usually holds a whole /64, so counting single
	// addresses would hand them 2^64 budgets. 128 counts each address.
	// Default: 64.
	IPv6PrefixLen int

	// LegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (Unix time, in seconds, when Remaining next grows)
	// to the RateLimit-Policy and RateLimit fields. Default: false.
	LegacyHeaders bool

	// LimitExceeded answers a request over the limit. Retry-After and the
	// rate limit headers are already set; the Decision is also in the
	// request's context (DecisionFromContext). Default: 429 with
	// {"error":"Too many auth requests"}.
	LimitExceeded func(w http.ResponseWriter, r *http.Request, d Decision)

	// Error answers a request the limiter could not decide on (or whose key
	// could not be found), unless FailOpen lets it through. It must not
	// write err to the response. Default: 503 with
	// {"error":"Service unavailable"}.
	Error func(w http.ResponseWriter, r *http.Request, err error)

	// FailOpen lets a request through when the limiter fails, trading the
	// limit for availability (e.g. while a shared Redis is down). It never
	// applies to ErrLimiterFull: a flood of new keys must not open the gate.
	// Default: false (fail closed).
	FailOpen bool

	// Logger receives one record per limiter failure; it never sees the
	// key. Default: slog.Default().
	Logger *slog.Logger

	// Clock returns the current time, for the default limiter and
	// X-RateLimit-Reset. Default: time.Now.
	Clock func() time.Time
}

// RateLimitAuthorize limits how often a key — the logged-in user, else the
// client IP — may call the handler it wraps, by default to the vendor
// guide's 10 requests per minute, exactly over any rolling minute.
//
// Every decided response carries the RateLimit-Policy and RateLimit fields
// of the IETF draft (draft-ietf-httpapi-ratelimit-headers), e.g.
//
//	RateLimit-Policy: "default";q=10;w=60
//	RateLimit: "default";r=3;t=42
//
// where r is the requests left and t the seconds until r next grows. A
// request over the limit gets 429, {"error":"Too many auth requests"} and
// Retry-After: the whole seconds, rounded up, until a request would pass.
//
// Put it after your auth middleware, so that users are counted one by one
// rather than everyone behind one office or carrier NAT sharing an IP's
// budget; see the README for the trade-offs.
//
// It panics with a message starting "fanfare: " on options that come from
// code and cannot work: both Limit and Limiter set, a Limit out of range, an
// invalid TrustedProxies prefix, or IPv6PrefixLen outside 1–128.
func RateLimitAuthorize(opts RateLimitOptions) func(http.Handler) http.Handler {
	rl := newRateLimiter(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rl.serve(w, r, next)
		})
	}
}

// DecisionFromContext returns the rate limit decision [RateLimitAuthorize]
// made for the request whose context this is.
func DecisionFromContext(ctx context.Context) (Decision, bool) {
	d, ok := ctx.Value(rateLimitDecisionKey).(*Decision)
	if !ok {
		return Decision{}, false
	}
	return *d, true
}

// WithDecision returns a copy of ctx carrying d, for testing handlers that
// read DecisionFromContext without the middleware.
func WithDecision(ctx context.Context, d Decision) context.Context {
	return &decisionContext{Context: ctx, d: d}
}

// decisionContext carries a Decision in one allocation, where
// context.WithValue would take two (the context and the boxed Decision).
type decisionContext struct {
	context.Context
	d Decision
}

func (c *decisionContext) Value(key any) any {
	if key == rateLimitDecisionKey {
		return &c.d
	}
	return c.Context.Value(key)
}

var (
	tooManyAuthRequestsBody = []byte(`{"error":"Too many auth requests"}`)
	serviceUnavailableBody  = []byte(`{"error":"Service unavailable"}`)
)

// rateLimiter is RateLimitAuthorize's state, built once.
type rateLimiter struct {
	limiter       Limiter
	keyFunc       func(*http.Request) (string, error)
	trusted       []netip.Prefix
	ipv6Bits      int
	limitExceeded func(http.ResponseWriter, *http.Request, Decision)
	onError       func(http.ResponseWriter, *http.Request, error)
	failOpen      bool
	logger        *slog.Logger
	clock         func() time.Time
	headers       rateLimitHeaders
	legacy        bool
	legacyReset   atomic.Pointer[legacyReset]
	lastFullLog   atomic.Int64
}

func newRateLimiter(opts RateLimitOptions) *rateLimiter {
	if opts.Limiter == nil {
		opts.Limiter = NewMemoryLimiter(MemoryLimiterOptions{Limit: opts.Limit, Clock: opts.Clock})
	} else if opts.Limit != (Limit{}) {
		panic("fanfare: RateLimitOptions: set Limit or Limiter, not both (the Limiter has its own Limit)")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	switch {
	case opts.IPv6PrefixLen == 0:
		opts.IPv6PrefixLen = 64
	case opts.IPv6PrefixLen < 1 || opts.IPv6PrefixLen > 128:
		panic(fmt.Sprintf("fanfare: RateLimitOptions.IPv6PrefixLen is %d, want 1 to 128", opts.IPv6PrefixLen))
	}
	for i, p := range opts.TrustedProxies {
		if !p.IsValid() {
			panic(fmt.Sprintf("fanfare: RateLimitOptions.TrustedProxies[%d] is not a valid prefix", i))
		}
	}
	if opts.LimitExceeded == nil {
		opts.LimitExceeded = func(w http.ResponseWriter, _ *http.Request, _ Decision) {
			writeJSONBytes(w, http.StatusTooManyRequests, tooManyAuthRequestsBody)
		}
	}
	if opts.Error == nil {
		opts.Error = func(w http.ResponseWriter, _ *http.Request, _ error) {
			writeJSONBytes(w, http.StatusServiceUnavailable, serviceUnavailableBody)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &rateLimiter{
		limiter:       opts.Limiter,
		keyFunc:       opts.KeyFunc,
		trusted:       append([]netip.Prefix(nil), opts.TrustedProxies...),
		ipv6Bits:      opts.IPv6PrefixLen,
		limitExceeded: opts.LimitExceeded,
		onError:       opts.Error,
		failOpen:      opts.FailOpen,
		logger:        opts.Logger,
		clock:         opts.Clock,
		headers:       newRateLimitHeaders(opts.Limiter.Limit()),
		legacy:        opts.LegacyHeaders,
	}
}

func (rl *rateLimiter) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	d, err := rl.decide(r)
	if err != nil {
		if rl.failOpen && !errors.Is(err, ErrLimiterFull) {
			rl.logError(r, err, true)
			next.ServeHTTP(w, r)
			return
		}
		rl.logError(r, err, false)
		rl.onError(w, r, err)
		return
	}
	h := w.Header()
	rl.setHeaders(h, d)
	r = r.WithContext(&decisionContext{Context: r.Context(), d: d})
	if !d.Allowed {
		h["Retry-After"] = rl.headers.seconds(ceilSeconds(d.RetryAfter))
		rl.limitExceeded(w, r, d)
		return
	}
	next.ServeHTTP(w, r)
}

// decide is the middleware's framework-neutral core: the request's key and
// the limiter's decision for it.
func (rl *rateLimiter) decide(r *http.Request) (Decision, error) {
	key, err := rl.key(r)
	if err != nil {
		return Decision{}, err
	}
	return rl.limiter.Allow(r.Context(), key)
}

// key returns the limiter key of r. The prefixes keep the three kinds of key
// apart: no user id, custom key or IP can stand for another.
func (rl *rateLimiter) key(r *http.Request) (string, error) {
	if rl.keyFunc != nil {
		k, err := rl.keyFunc(r)
		if err != nil {
			return "", err
		}
		if k != "" {
			return "key:" + k, nil
		}
	}
	if id, ok := IdentityFromContext(r.Context()); ok {
		return "id:" + id.Subject, nil
	}
	ip, err := ClientIP(r, rl.trusted)
	if err != nil {
		return "", err
	}
	if ip.Is6() && rl.ipv6Bits < 128 {
		p, _ := ip.Prefix(rl.ipv6Bits)
		ip = p.Addr()
	}
	var buf [64]byte
	return string(ip.AppendTo(append(buf[:0], "ip:"...))), nil
}

// logError logs a limiter failure. ErrLimiterFull comes in floods, so it is
// logged at most once a second.
func (rl *rateLimiter) logError(r *http.Request, err error, failOpen bool) {
	if errors.Is(err, ErrLimiterFull) {
		now := time.Now().Unix()
		last := rl.lastFullLog.Load()
		if now == last || !rl.lastFullLog.CompareAndSwap(last, now) {
			return
		}
	}
	rl.logger.LogAttrs(r.Context(), slog.LevelError, "fanfare: rate limiter failed",
		slog.Any("err", err), slog.Bool("failOpen", failOpen))
}

// setHeaders writes the rate limit fields for d. Header values are assigned
// as shared, precomputed slices: Header.Set would allocate one per call.
func (rl *rateLimiter) setHeaders(h http.Header, d Decision) {
	hd := &rl.headers
	reset := ceilSeconds(d.ResetAfter)
	h["Ratelimit-Policy"] = hd.policy
	h["Ratelimit"] = hd.state(d.Remaining, reset)
	if rl.legacy {
		h["X-Ratelimit-Limit"] = hd.limit
		h["X-Ratelimit-Remaining"] = hd.number(hd.remaining, d.Remaining)
		h["X-Ratelimit-Reset"] = rl.resetAt(reset)
	}
}

// legacyReset caches the last X-RateLimit-Reset value: requests in one
// second mostly share it.
type legacyReset struct {
	unix  int64
	value []string
}

func (rl *rateLimiter) resetAt(afterSeconds int64) []string {
	unix := rl.clock().Unix() + afterSeconds
	if c := rl.legacyReset.Load(); c != nil && c.unix == unix {
		return c.value
	}
	c := &legacyReset{unix: unix, value: []string{strconv.FormatInt(unix, 10)}}
	rl.legacyReset.Store(c)
	return c.value
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// rateLimitHeaders holds header values encoded once per middleware.
type rateLimitHeaders struct {
	policy    []string   // `"default";q=10;w=60`
	limit     []string   // "10"
	windowSec int64      // w
	states    [][]string // `"default";r=R;t=T` at R*(windowSec+1)+T
	secs      [][]string // "0" … w, for Retry-After
	remaining [][]string // "0" … q, for X-RateLimit-Remaining
}

// maxPrecomputed bounds each table; past it values are encoded per request.
const maxPrecomputed = 4096

func newRateLimitHeaders(l Limit) rateLimitHeaders {
	w := ceilSeconds(l.Window)
	h := rateLimitHeaders{
		policy:    []string{`"default";q=` + strconv.Itoa(l.Requests) + `;w=` + strconv.FormatInt(w, 10)},
		limit:     []string{strconv.Itoa(l.Requests)},
		windowSec: w,
		secs:      numberValues(w),
		remaining: numberValues(int64(l.Requests)),
	}
	if cells := int64(l.Requests+1) * (w + 1); cells <= maxPrecomputed {
		h.states = make([][]string, cells)
		for r := range l.Requests + 1 {
			for t := range w + 1 {
				h.states[int64(r)*(w+1)+t] = []string{stateValue(int64(r), t)}
			}
		}
	}
	return h
}

func stateValue(remaining, reset int64) string {
	var buf [64]byte
	b := append(buf[:0], `"default";r=`...)
	b = strconv.AppendInt(b, remaining, 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, reset, 10)
	return string(b)
}

func numberValues(n int64) [][]string {
	if n+1 > maxPrecomputed {
		return nil
	}
	v := make([][]string, n+1)
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}

func (h *rateLimitHeaders) state(remaining int, reset int64) []string {
	if h.states != nil && remaining >= 0 && reset >= 0 && reset <= h.windowSec {
		if i := int64(remaining)*(h.windowSec+1) + reset; i < int64(len(h.states)) {
			return h.states[i]
		}
	}
	return []string{stateValue(int64(remaining), reset)}
}

func (h *rateLimitHeaders) seconds(s int64) []string { return h.number(h.secs, int(s)) }

func (h *rateLimitHeaders) number(table [][]string, n int) []string {
	if n >= 0 && n < len(table) {
		return table[n]
	}
	return []string{strconv.Itoa(n)}
}
