package otelfanfare

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	fanfare "github.com/waitify-io/fanfare-go"
)

// ObserveCompletions reports the backlog of outbox (the [fanfare.Store] set
// as AdmissionOptions.Store), read with Stats at every collection:
//
//   - fanfare.completions.pending (gauge): completions not yet delivered to
//     Fanfare;
//   - fanfare.completions.oldest_age (gauge, s): how long the oldest of them
//     has waited, by the WithClock clock; 0 when none is pending.
//
// A failed Stats (a shared outbox unreachable) reports nothing for that
// collection and hands the error to the SDK. Unregister the callback on
// shutdown. It returns an error if outbox is nil or the callback
// cannot be registered.
func ObserveCompletions(outbox fanfare.Outbox, opts ...Option) (metric.Registration, error) {
	if outbox == nil {
		return nil, errors.New("otelfanfare: ObserveCompletions: nil outbox")
	}
	c := newConfig(opts)
	m := c.meter()
	pending, err := m.Int64ObservableGauge("fanfare.completions.pending",
		metric.WithDescription("Completions recorded in the outbox and not yet delivered to Fanfare."),
		metric.WithUnit("{completion}"))
	handle(err)
	oldest, err := m.Float64ObservableGauge("fanfare.completions.oldest_age",
		metric.WithDescription("Age of the oldest completion not yet delivered to Fanfare; 0 when none is pending."),
		metric.WithUnit("s"))
	handle(err)
	set := c.set()
	now := c.clock
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		st, err := outbox.Stats(ctx)
		if err != nil {
			return err
		}
		age := 0.0
		if st.Pending > 0 && !st.Oldest.IsZero() {
			age = max(now().Sub(st.Oldest).Seconds(), 0)
		}
		o.ObserveInt64(pending, int64(st.Pending), metric.WithAttributeSet(set))
		o.ObserveFloat64(oldest, age, metric.WithAttributeSet(set))
		return nil
	}, pending, oldest)
}

// Completions returns opts with OnGiveUp wrapped to count the completions
// the worker gives up (Fanfare refused them for good, or they outlived
// GiveUpAfter): fanfare.completions.given_up (counter), with
// fanfare.distribution.type and error.type (Fanfare's status code, or
// "unavailable"). The OnGiveUp already set still runs, after the count.
// Pass the result to [fanfare.NewCompletionWorker]; wrap it once.
func Completions(opts fanfare.CompletionWorkerOptions, options ...Option) fanfare.CompletionWorkerOptions {
	c := newConfig(options)
	givenUp, err := c.meter().Int64Counter("fanfare.completions.given_up",
		metric.WithDescription("Completions the worker gave up delivering: Fanfare does not know these admissions were used."),
		metric.WithUnit("{completion}"))
	handle(err)
	onGiveUp := opts.OnGiveUp
	opts.OnGiveUp = func(comp fanfare.Completion, err error) {
		t := comp.Distribution.Type
		switch t {
		case fanfare.TypeQueue, fanfare.TypeDraw, fanfare.TypeAuction:
		default:
			t = "other"
		}
		givenUp.Add(context.Background(), 1, metric.WithAttributeSet(c.set(
			keyDistributionType.String(string(t)),
			semconv.ErrorTypeKey.String(giveUpReason(err)))))
		if onGiveUp != nil {
			onGiveUp(comp, err)
		}
	}
	return opts
}

// giveUpReason names the last error of a completion given up: Fanfare's
// status code, or "unavailable" when Fanfare did not answer.
func giveUpReason(err error) string {
	var ae *fanfare.APIError
	if errors.As(err, &ae) && ae.StatusCode != 0 {
		return strconv.Itoa(ae.StatusCode)
	}
	if errors.Is(err, fanfare.ErrUnavailable) {
		return "unavailable"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}
