package fanfare

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// Limit is a rate limit policy: at most Requests requests for one key in any
// rolling window of length Window, literally: a limiter enforcing
// Limit{10, time.Minute} never lets an 11th request through within 60
// seconds of the first of ten, however the requests are timed (a fixed
// window or a token bucket would let close to 20 through).
type Limit struct {
	// Requests is the number of requests allowed per window, between 1 and
	// 65535. Default: 10.
	Requests int
	// Window is the length of the rolling window, up to 24 days.
	// Default: 1 minute.
	Window time.Duration
}

const (
	maxLimitRequests = 1<<16 - 1
	maxLimitWindow   = 24 * 24 * time.Hour
)

// withDefaults fills the zero fields of l with the vendor guide's 10 a
// minute and panics on a limit out of range: it comes from code, not from
// the environment.
func (l Limit) withDefaults() Limit {
	l.Requests = cmp.Or(l.Requests, 10)
	l.Window = cmp.Or(l.Window, time.Minute)
	if l.Requests < 1 || l.Requests > maxLimitRequests {
		panic(fmt.Sprintf("fanfare: Limit.Requests is %d, want 1 to %d", l.Requests, maxLimitRequests))
	}
	if l.Window < 0 || l.Window > maxLimitWindow {
		panic(fmt.Sprintf("fanfare: Limit.Window is %v, want more than 0 and at most %v", l.Window, maxLimitWindow))
	}
	return l
}

// Decision is a limiter's answer for one request.
type Decision struct {
	// Allowed reports whether the request may proceed. An allowed request
	// has been counted; a denied one has not.
	Allowed bool
	// Limit is the policy's Requests.
	Limit int
	// Remaining is how many more requests the key may make right now.
	Remaining int
	// RetryAfter is zero when Allowed; otherwise the time until a request
	// for this key would be allowed.
	RetryAfter time.Duration
	// ResetAfter is the time until the oldest request still counted leaves
	// the window, so that Remaining grows by one; zero when no request is
	// counted. When a request is denied it equals RetryAfter. Both are exact
	// to the limiter's resolution (NewMemoryLimiter's: the nanosecond).
	ResetAfter time.Duration
}

// Limiter decides whether a request for key may proceed under its Limit.
//
// Allow is one atomic step — read the key's state, decide, record the
// request if allowed — so that concurrent calls for one key never admit more
// than the limit, and a shared store (Redis) can do it in one round trip. The
// time of the decision comes from the limiter's own clock. Implementations
// must be safe for concurrent use and must pass the conformance suite in
// package limitertest.
type Limiter interface {
	// Allow decides for one request of key and records it if allowed. Keys
	// are opaque; the caller keeps distinct kinds of key apart (see
	// RateLimitOptions.KeyFunc). An error means no decision: the caller
	// fails closed unless told otherwise.
	Allow(ctx context.Context, key string) (Decision, error)
	// Limit returns the policy the limiter enforces.
	Limit() Limit
}
