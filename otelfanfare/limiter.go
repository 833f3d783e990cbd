package otelfanfare

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	fanfare "github.com/waitify-io/fanfare-go"
)

// Limiter returns l counting its decisions: fanfare.limiter.decisions
// (counter), with fanfare.limiter.decision allowed, denied or error (no
// decision: the caller fails closed unless told otherwise). The key, a user
// id or a client address, is never recorded. The returned Limiter decides
// exactly as l does; pass it as fanfare.RateLimitOptions.Limiter.
func Limiter(l fanfare.Limiter, opts ...Option) fanfare.Limiter {
	if l == nil {
		panic("otelfanfare: Limiter: nil limiter")
	}
	c := newConfig(opts)
	decisions, err := c.meter().Int64Counter("fanfare.limiter.decisions",
		metric.WithDescription("Rate limiter decisions: allowed, denied, or error (no decision)."),
		metric.WithUnit("{decision}"))
	handle(err)
	return &limiter{
		l:         l,
		decisions: decisions,
		allowed:   c.set(keyDecision.String("allowed")),
		denied:    c.set(keyDecision.String("denied")),
		failed:    c.set(keyDecision.String("error")),
	}
}

type limiter struct {
	l                       fanfare.Limiter
	decisions               metric.Int64Counter
	allowed, denied, failed attribute.Set
}

// Allow implements fanfare.Limiter.
func (l *limiter) Allow(ctx context.Context, key string) (fanfare.Decision, error) {
	d, err := l.l.Allow(ctx, key)
	set := l.allowed
	switch {
	case err != nil:
		set = l.failed
	case !d.Allowed:
		set = l.denied
	}
	l.decisions.Add(ctx, 1, metric.WithAttributeSet(set))
	return d, err
}

// Limit implements fanfare.Limiter.
func (l *limiter) Limit() fanfare.Limit { return l.l.Limit() }
