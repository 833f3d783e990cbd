package fanfare

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// RateLimitOptions configures [RateLimitAuthorize]. The zero value is the
// vendor guide's policy: 10 requests per minute per logged-in user (per
// client IP for anonymous requests), held in memory, failing closed.
type RateLimitOptions struct {
	// Limiter decides and counts. Share a Redis limiter between instances
	// to limit a user across all of them. Default: [NewMemoryLimiter]
	// enforcing Limit with Clock.
	Limiter Limiter
	// Limit is the policy of the default limiter; leave it zero when
	// setting Limiter. Default: 10 requests per 1 minute.
	Limit Limit
	// KeyFunc returns the key a request is counted under, e.g. a tenant or
	// an API key; "" falls back to the default key, and an error refuses
	// the request as a limiter error would. Its keys live in their own
	// namespace, apart from users' and IPs'. Default: nil — the Subject of
	// the Identity in the request context (see WithIdentity), else the
	// client IP.
	KeyFunc func(r *http.Request) (string, error)
	// TrustedProxies are the reverse proxies (see ParseTrustedProxies)
	// whose X-Forwarded-For, read from the right, or else X-Real-IP, names
	// the client IP when one of them is the peer. Never list a range that
	// clients can send from: they could then pick any IP, and a fresh budget
	// with it. Default: none — the connection's peer address is the client.
	TrustedProxies []netip.Prefix
	// IPv6PrefixLen is the length of the prefix an IPv6 client is counted
	// under: one subscriber usually holds a whole /64, so counting single
	// addresses would hand them 2^64 budgets. Default: 64.
	IPv6PrefixLen int
	// LegacyHeaders adds X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (Unix time, in seconds, when Remaining next grows).
	// Default: false.
	LegacyHeaders bool
	// FailOpen lets a request through when the limiter fails (e.g. a shared
	// Redis is down), trading the limit for availability. It never applies
	// to ErrTooManyKeys: a flood of new keys must not open the gate.
	// Default: false (fail closed).
	FailOpen bool
	// Logger receives each limiter failure (ErrTooManyKeys at most once a
	// second), never the key. Default: slog.Default().
	Logger *slog.Logger
	// ErrorHandler writes the response of every refused request: err is
	// ErrRateLimited over the limit (default 429), with the decision's
	// fields, Retry-After included, already in w.Header(); anything else is
	// a logged failure to decide (default 503). Never write err itself into
	// the response. Default: WriteError.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
	// Clock returns the current time, for the default limiter and
	// X-RateLimit-Reset. Default: time.Now.
	Clock func() time.Time
}

// RateLimitAuthorize limits how often a key (the logged-in user, else the
// client IP) may call the handler it wraps, by default to the vendor
// guide's 10 requests per minute, exactly over any rolling minute. Every
// decided response carries the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers; a request over the limit gets 429
// {"error":"Too many auth requests"} with Retry-After. Put it after your
// auth middleware, so that users are counted one by one rather than by a
// NAT's shared IP.
//
// It panics with a message starting "fanfare: " on options from code that
// cannot work: both Limit and Limiter set, a Limit out of range, an invalid
// TrustedProxies prefix, or IPv6PrefixLen outside 1–128.
func RateLimitAuthorize(opts RateLimitOptions) func(http.Handler) http.Handler {
	if opts.Limiter == nil {
		opts.Limiter = NewMemoryLimiter(MemoryLimiterOptions{Limit: opts.Limit, Clock: opts.Clock})
	} else if opts.Limit != (Limit{}) {
		panic("fanfare: RateLimitOptions: set Limit or Limiter, not both (the Limiter has its own Limit)")
	}
	opts.IPv6PrefixLen = cmp.Or(opts.IPv6PrefixLen, 64)
	if opts.IPv6PrefixLen < 1 || opts.IPv6PrefixLen > 128 {
		panic(fmt.Sprintf("fanfare: RateLimitOptions.IPv6PrefixLen is %d, want 1 to 128", opts.IPv6PrefixLen))
	}
	for i, p := range opts.TrustedProxies {
		if !p.IsValid() {
			panic(fmt.Sprintf("fanfare: RateLimitOptions.TrustedProxies[%d] is not a valid prefix", i))
		}
	}
	opts.TrustedProxies = slices.Clone(opts.TrustedProxies)
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.ErrorHandler == nil {
		opts.ErrorHandler = WriteError
	}
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	l := opts.Limiter.Limit()
	rl := &rateLimiter{
		RateLimitOptions: opts,
		policyHdr:        []string{`"default";q=` + strconv.Itoa(l.Requests) + `;w=` + strconv.FormatInt(ceilSeconds(l.Window), 10)},
		limitHdr:         []string{strconv.Itoa(l.Requests)},
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rl.serve(w, r, next)
		})
	}
}

// ErrRateLimited is the error RateLimitOptions.ErrorHandler receives for a
// request over the limit.
var ErrRateLimited = errors.New("fanfare: rate limited")

// errNoDecision marks the errors of a limiter that could not decide, so
// that WriteError answers them 503 {"error":"Service unavailable"}.
var errNoDecision = errors.New("fanfare: rate limiter cannot decide")

type rateLimiter struct {
	RateLimitOptions
	policyHdr   []string // RateLimit-Policy: `"default";q=10;w=60`
	limitHdr    []string // X-RateLimit-Limit: "10"
	lastFullLog atomic.Int64
}

func (rl *rateLimiter) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	key, err := rl.key(r)
	var d Decision
	if err == nil {
		d, err = rl.Limiter.Allow(r.Context(), key)
	}
	if err != nil {
		failOpen := rl.FailOpen && !errors.Is(err, ErrTooManyKeys)
		rl.logError(r, err, failOpen)
		if failOpen {
			next.ServeHTTP(w, r)
		} else {
			rl.ErrorHandler(w, r, fmt.Errorf("%w: %w", errNoDecision, err))
		}
		return
	}
	h := w.Header()
	h["Ratelimit-Policy"] = rl.policyHdr
	h["Ratelimit"] = []string{`"default";r=` + strconv.Itoa(d.Remaining) + ";t=" + strconv.FormatInt(ceilSeconds(d.ResetAfter), 10)}
	if rl.LegacyHeaders {
		h["X-Ratelimit-Limit"] = rl.limitHdr
		h["X-Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
		// The instant Remaining grows, rounded up: a client waiting until
		// the second named must find the room there.
		at := rl.Clock().Add(d.ResetAfter)
		h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(at.Add(time.Second-1).Truncate(time.Second).Unix(), 10)}
	}
	if !d.Allowed {
		h["Retry-After"] = []string{strconv.FormatInt(ceilSeconds(d.RetryAfter), 10)}
		rl.ErrorHandler(w, r, ErrRateLimited)
		return
	}
	next.ServeHTTP(w, r)
}

// key returns the limiter key of r. The prefixes keep the three kinds of key
// apart: no user id, custom key or IP can stand for another.
func (rl *rateLimiter) key(r *http.Request) (string, error) {
	if rl.KeyFunc != nil {
		k, err := rl.KeyFunc(r)
		if err != nil || k != "" {
			return "key:" + k, err
		}
	}
	if id, ok := IdentityFromContext(r.Context()); ok {
		return "id:" + id.Subject, nil
	}
	ip, err := clientIP(r, rl.TrustedProxies)
	if err != nil {
		return "", err
	}
	if ip.Is6() && rl.IPv6PrefixLen < 128 {
		p, _ := ip.Prefix(rl.IPv6PrefixLen)
		ip = p.Addr()
	}
	var buf [64]byte
	return string(ip.AppendTo(append(buf[:0], "ip:"...))), nil
}

// logError logs a limiter failure; ErrTooManyKeys, which comes in floods,
// at most once a second.
func (rl *rateLimiter) logError(r *http.Request, err error, failOpen bool) {
	if now, last := time.Now().Unix(), rl.lastFullLog.Load(); errors.Is(err, ErrTooManyKeys) && (now == last || !rl.lastFullLog.CompareAndSwap(last, now)) {
		return
	}
	rl.Logger.LogAttrs(r.Context(), slog.LevelError, "fanfare: rate limiter failed", slog.Any("err", err), slog.Bool("failOpen", failOpen))
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
