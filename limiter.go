package fanfare

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// Limit is a rate limit policy: at most Requests requests for one key in any
// rolling window of length Window, literally (a fixed window or a token
// bucket would let close to twice as many through around a boundary).
type Limit struct {
	// Requests is the number of requests allowed per window, between 1 and
	// 65535. Default: 10.
	Requests int
	// Window is the length of the rolling window, up to 24 days.
	// Default: 1 minute.
	Window time.Duration
}

// withDefaults fills the zero fields of l with the vendor guide's 10 a
// minute and panics on a limit out of range: it comes from code.
func (l Limit) withDefaults() Limit {
	l.Requests = cmp.Or(l.Requests, 10)
	l.Window = cmp.Or(l.Window, time.Minute)
	if l.Requests < 1 || l.Requests > 1<<16-1 {
		panic(fmt.Sprintf("fanfare: Limit.Requests is %d, want 1 to 65535", l.Requests))
	}
	if l.Window < 0 || l.Window > 24*24*time.Hour {
		panic(fmt.Sprintf("fanfare: Limit.Window is %v, want more than 0 and at most %v", l.Window, 24*24*time.Hour))
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
	// ResetAfter is the time until the oldest request counted leaves the
	// window, so that Remaining grows; zero when none is counted. When a
	// request is denied it equals RetryAfter.
	ResetAfter time.Duration
}

// Limiter decides whether a request for key may proceed under its Limit.
//
// Allow is one atomic step (read the key's state, decide, record the
// request if allowed), so that concurrent calls for one key never admit
// more than the limit and a shared store (Redis) does it in one round trip.
// The time comes from the limiter's own clock. Implementations must be safe
// for concurrent use and pass the conformance suite in package limitertest.
type Limiter interface {
	// Allow decides for one request of key and records it if allowed. Keys
	// are opaque. An error means no decision: the caller fails closed
	// unless told otherwise.
	Allow(ctx context.Context, key string) (Decision, error)
	// Limit returns the policy the limiter enforces.
	Limit() Limit
}
