package fanfare

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// CompletionWorkerOptions configures a [CompletionWorker]. The zero value is
// ready to use.
type CompletionWorkerOptions struct {
	// Lease is how long a claimed completion is reserved for this worker;
	// a worker that dies mid-delivery leaves it to others after that.
	// Default: 30s.
	Lease time.Duration
	// PollInterval is how often the worker looks for due completions it
	// was not told about: retries coming due, and completions of
	// instances that died. Default: 1s.
	PollInterval time.Duration
	// MaxBackoff caps the wait between two attempts at one completion. The
	// wait starts at 1s and doubles, with jitter. Default: 5m.
	MaxBackoff time.Duration
	// GiveUpAfter is how long after its admission was used a completion
	// is given up: it leaves the outbox, is logged at error level and
	// handed to OnGiveUp. A completion Fanfare refuses for good (an
	// unknown admission: 404, or another 4xx but 401, 408 and 429) is
	// given up at once. Default: 24h.
	GiveUpAfter time.Duration
	// OnGiveUp receives every completion given up, with the last error,
	// e.g. to reconcile by hand. It must be quick; a panic in it is
	// recovered and logged. Default: nil.
	OnGiveUp func(c Completion, err error)
	// Logger receives failed deliveries at warn level and completions
	// given up at error level. Default: slog.Default().
	Logger *slog.Logger
	// Clock tells the age of completions. Default: time.Now.
	Clock func() time.Time
}

// CompletionWorker delivers the completions an [Outbox] holds to Fanfare,
// with backoff and jitter, until Fanfare accepts them: complete is
// idempotent per consumer and distribution, so a completion delivered twice
// (by two instances, or again after a lost answer) is harmless.
//
// [RequireAdmission] runs one of its own when AdmissionOptions.Completions
// is nil, started when a completion is owed and stopped when none is. With a
// Store shared by several instances (Redis), run one worker on every
// instance, so that a completion recorded by an instance that died is
// delivered by another, and Close it on shutdown:
//
//	worker := fanfare.NewCompletionWorker(client, store, fanfare.CompletionWorkerOptions{})
//	defer worker.Close(shutdownCtx)
type CompletionWorker struct {
	client *Client
	outbox Outbox
	opts   CompletionWorkerOptions
	owner  string
	// onDemand workers stop when the outbox is empty and start again when
	// told about a completion.
	onDemand bool

	mu      sync.Mutex
	running bool
	closed  bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// completionBatch is how many completions one Claim takes.
const completionBatch = 8

// NewCompletionWorker starts a worker delivering outbox's completions with
// client. Stop it with Close. It panics if client or outbox is nil.
func NewCompletionWorker(client *Client, outbox Outbox, opts CompletionWorkerOptions) *CompletionWorker {
	w := newCompletionWorker(client, outbox, opts, false)
	w.start()
	return w
}

func newCompletionWorker(client *Client, outbox Outbox, o CompletionWorkerOptions, onDemand bool) *CompletionWorker {
	if client == nil || outbox == nil {
		panic("fanfare: NewCompletionWorker: nil client or outbox")
	}
	if o.Lease < 0 || o.PollInterval < 0 || o.MaxBackoff < 0 || o.GiveUpAfter < 0 {
		panic("fanfare: NewCompletionWorker: negative duration")
	}
	o.Lease = orDefault(o.Lease, 30*time.Second)
	o.PollInterval = orDefault(o.PollInterval, time.Second)
	o.MaxBackoff = orDefault(o.MaxBackoff, 5*time.Minute)
	o.GiveUpAfter = orDefault(o.GiveUpAfter, 24*time.Hour)
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &CompletionWorker{
		client: client, outbox: outbox, opts: o, owner: newOwner(), onDemand: onDemand,
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
}

func (w *CompletionWorker) log() *slog.Logger {
	if w.opts.Logger != nil {
		return w.opts.Logger
	}
	return slog.Default()
}

// start runs the loop unless it runs or the worker is closed; otherwise it
// wakes the loop.
func (w *CompletionWorker) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.running {
		select {
		case w.wake <- struct{}{}:
		default:
		}
		return
	}
	w.running = true
	w.done = make(chan struct{})
	go w.loop(w.done)
}

func (w *CompletionWorker) loop(done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-done:
		}
	}()
	t := time.NewTimer(w.opts.PollInterval)
	defer t.Stop()
	for {
		w.drain(ctx)
		if w.onDemand && w.idle(ctx) {
			return
		}
		t.Reset(w.opts.PollInterval)
		select {
		case <-w.stop:
			return
		case <-w.wake:
		case <-t.C:
		}
	}
}

// idle reports, for an on-demand worker, that nothing is pending and marks
// the loop stopped; a wake-up that raced it keeps the loop running.
func (w *CompletionWorker) idle(ctx context.Context) bool {
	st, err := w.outbox.Stats(ctx)
	if err != nil || st.Pending > 0 {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.wake:
		return false
	default:
	}
	w.running = false
	return true
}

// drain delivers due completions until none is due or ctx ends. It reports
// whether the outbox answered.
func (w *CompletionWorker) drain(ctx context.Context) bool {
	for ctx.Err() == nil {
		cs, err := w.outbox.Claim(ctx, w.owner, completionBatch, w.opts.Lease)
		if err != nil {
			if ctx.Err() == nil {
				w.log().Warn("fanfare: completion outbox failed", "op", "claim", "error", err)
			}
			return false
		}
		for _, c := range cs {
			w.deliver(ctx, c)
		}
		if len(cs) < completionBatch {
			return true
		}
	}
	return false
}

// deliver makes one attempt at c, which this worker has claimed.
func (w *CompletionWorker) deliver(ctx context.Context, c Completion) {
	attemptCtx, cancel := context.WithTimeout(ctx, w.opts.Lease/3)
	err := w.client.completeOnce(attemptCtx, c.Distribution, c.ConsumerID)
	cancel()
	bg := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		if err := w.outbox.Done(bg, c.ID); err != nil {
			w.log().Warn("fanfare: completion outbox failed; the completion will be delivered again", "op", "done", "error", err)
		}
	case permanent(err), w.opts.Clock().Sub(c.Since) >= w.opts.GiveUpAfter:
		w.giveUp(bg, c, err)
	case ctx.Err() != nil:
		// Closing: hand the completion back, due at once, for Close's own
		// drain or another instance.
		if err := w.outbox.Retry(bg, c.ID, w.owner, 0); err != nil && !errors.Is(err, ErrHoldLost) {
			w.log().Warn("fanfare: completion outbox failed", "op", "retry", "error", err)
		}
	default:
		delay := w.backoff(c.Attempts + 1)
		w.log().Warn("fanfare: completion not delivered; retrying", "distribution", c.Distribution.String(),
			"attempts", c.Attempts+1, "retry_in", delay, "error", err)
		if err := w.outbox.Retry(bg, c.ID, w.owner, delay); err != nil && !errors.Is(err, ErrHoldLost) {
			w.log().Warn("fanfare: completion outbox failed", "op", "retry", "error", err)
		}
	}
}

// permanent reports an answer that no retry changes: Fanfare refused the
// completion itself, not our credentials or its own capacity.
func permanent(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || errors.Is(err, ErrUnavailable) {
		return false
	}
	switch ae.StatusCode {
	case 401, 403, 408, 429:
		return false
	}
	return ae.StatusCode >= 400 && ae.StatusCode < 500
}

func (w *CompletionWorker) giveUp(ctx context.Context, c Completion, err error) {
	w.log().Error("fanfare: completion given up; Fanfare does not know this admission was used",
		"distribution", c.Distribution.String(), "consumer", c.ConsumerID, "attempts", c.Attempts+1,
		"since", c.Since, "error", err)
	if err := w.outbox.Done(ctx, c.ID); err != nil {
		w.log().Warn("fanfare: completion outbox failed", "op", "done", "error", err)
	}
	if w.opts.OnGiveUp != nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					w.log().Error("fanfare: OnGiveUp panicked", "panic", fmt.Sprint(p))
				}
			}()
			w.opts.OnGiveUp(c, err)
		}()
	}
}

// backoff is the wait before attempt n+1: 1s doubling to MaxBackoff, with
// jitter over its upper half so that instances do not retry in step.
func (w *CompletionWorker) backoff(n int) time.Duration {
	d := w.opts.MaxBackoff
	if n < 30 {
		d = min(time.Second<<n/2, d)
	}
	return d/2 + rand.N(d/2+1)
}

// deliverNow makes the one quick attempt the consumer's answer waits for;
// a completion it misses is left to the loop.
func (w *CompletionWorker) deliverNow(ctx context.Context, c Completion, timeout time.Duration) {
	attemptCtx, cancel := context.WithTimeout(ctx, timeout)
	err := w.client.completeOnce(attemptCtx, c.Distribution, c.ConsumerID)
	cancel()
	if err == nil {
		if err := w.outbox.Done(ctx, c.ID); err != nil {
			w.log().Warn("fanfare: completion outbox failed; the completion will be delivered again", "op", "done", "error", err)
		}
		return
	}
	w.log().Warn("fanfare: completion not delivered at once; the outbox will retry",
		"distribution", c.Distribution.String(), "error", err)
	w.start()
}

// Stats reports the outbox's backlog: how many completions are pending and
// since when the oldest is, e.g. for metrics and health checks.
func (w *CompletionWorker) Stats(ctx context.Context) (OutboxStats, error) {
	return w.outbox.Stats(ctx)
}

// Close stops the worker, then keeps delivering until nothing is pending or
// ctx ends, attempts coming due by their backoff. It returns an error when
// completions remain pending: in an in-memory outbox they are lost when the
// process exits; in a shared one another instance delivers them. Close is
// safe to call more than once.
func (w *CompletionWorker) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	done := w.done
	w.mu.Unlock()
	if done != nil {
		<-done
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		w.drain(ctx)
		st, err := w.outbox.Stats(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("fanfare: completion outbox: %w", err)
		}
		if st.Pending == 0 {
			return nil
		}
		t.Reset(w.opts.PollInterval)
		select {
		case <-ctx.Done():
			return fmt.Errorf("fanfare: %d completions still pending, the oldest since %v", st.Pending, st.Oldest.Format(time.RFC3339))
		case <-t.C:
		}
	}
}
