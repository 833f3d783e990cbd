package fanfare

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Completion is a completion owed to Fanfare: the admission of ConsumerID to
// Distribution bought an order. Fanfare must be told; complete is
// idempotent, so telling it twice is harmless.
type Completion struct {
	// ID names the completion in its outbox: the admission's Store key.
	ID           string
	Distribution Distribution
	ConsumerID   string
	// Since is when the admission was marked used, by the store's clock.
	Since time.Time
	// Attempts counts the failed deliveries so far.
	Attempts int
}

// Outbox holds the completions a [Store] recorded until they are delivered.
// A [CompletionWorker] claims due completions with a lease, delivers them,
// and marks each done or due again later; a worker that dies leaves its
// leases to expire, and another (on any instance sharing the store) takes
// its completions over. Every method is one atomic operation; times come
// from the outbox's own clock. Run the storetest suite against any
// implementation.
type Outbox interface {
	// Claim leases to owner, for lease, up to n completions that are due
	// (their next attempt time has come and no live lease holds them),
	// earliest due first. A claimed completion is not returned by another
	// Claim until its lease ends.
	Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]Completion, error)
	// Done removes completion id: Fanfare accepted it. An absent id is no
	// error.
	Done(ctx context.Context, id string) error
	// Retry records a failed delivery of id by owner: Attempts grows by one,
	// the lease ends and the completion is due again after delay. It
	// changes nothing, and returns [ErrHoldLost], when owner's lease on id
	// has ended.
	Retry(ctx context.Context, id, owner string, delay time.Duration) error
	// Stats reports the backlog, for metrics and health checks.
	Stats(ctx context.Context) (OutboxStats, error)
}

// OutboxStats is the backlog of an [Outbox].
type OutboxStats struct {
	Pending int       // completions not yet delivered, leased or not
	Oldest  time.Time // the Since of the oldest pending; zero when none
}

// CompletionWorkerOptions configures a [CompletionWorker].
type CompletionWorkerOptions struct {
	// Lease is how long a claimed completion is reserved for this worker;
	// if it dies mid-delivery, others take it over after that. Default: 30s.
	Lease time.Duration
	// PollInterval is how often the worker looks for retries coming due and
	// completions left by instances that died. Default: 1s.
	PollInterval time.Duration
	// MaxBackoff caps the wait between two attempts at one completion, which
	// starts at 1s and doubles, with jitter. Default: 5m.
	MaxBackoff time.Duration
	// GiveUpAfter is how long after its admission was used a completion is
	// given up: removed, logged at error level and handed to OnGiveUp. One
	// Fanfare refuses for good (any 4xx but 401, 403, 408 and 429) is given
	// up at once. Default: 24h.
	GiveUpAfter time.Duration
	// OnGiveUp receives every completion given up, with the last error,
	// e.g. to reconcile by hand. It must be quick; a panic in it is
	// recovered and logged. Default: nil.
	OnGiveUp func(c Completion, err error)
	// Logger receives failed deliveries (warn) and completions given up
	// (error). Default: slog.Default().
	Logger *slog.Logger
	// Clock tells the age of completions. Default: time.Now.
	Clock func() time.Time
}

// CompletionWorker delivers the completions an [Outbox] holds to Fanfare,
// with backoff and jitter, until Fanfare accepts them.
//
// [RequireAdmission] runs one of its own when AdmissionOptions.Completions
// is nil, while completions are owed. With a Store shared by several
// instances, run one worker on every instance, so that another delivers
// what an instance that died recorded, and Close it on shutdown.
type CompletionWorker struct {
	client   *Client
	outbox   Outbox
	opts     CompletionWorkerOptions
	owner    string
	onDemand bool // runs only while the outbox holds completions

	ctx             context.Context // cancelled by Close
	stop            context.CancelFunc
	mu              sync.Mutex
	running, closed bool
	wake            chan struct{}
	loops           sync.WaitGroup
}

// NewCompletionWorker starts a worker delivering outbox's completions with
// client. Stop it with Close. It panics if client or outbox is nil.
func NewCompletionWorker(client *Client, outbox Outbox, opts CompletionWorkerOptions) *CompletionWorker {
	return newCompletionWorker(client, outbox, opts, false)
}

func newCompletionWorker(client *Client, outbox Outbox, o CompletionWorkerOptions, onDemand bool) *CompletionWorker {
	if client == nil || outbox == nil {
		panic("fanfare: NewCompletionWorker: nil client or outbox")
	}
	if o.Lease < 0 || o.PollInterval < 0 || o.MaxBackoff < 0 || o.GiveUpAfter < 0 {
		panic("fanfare: NewCompletionWorker: negative duration")
	}
	o.Lease = cmp.Or(o.Lease, 30*time.Second)
	o.PollInterval = cmp.Or(o.PollInterval, time.Second)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, 5*time.Minute)
	o.GiveUpAfter = cmp.Or(o.GiveUpAfter, 24*time.Hour)
	o.Logger = cmp.Or(o.Logger, slog.Default())
	if o.Clock == nil {
		o.Clock = time.Now
	}
	w := &CompletionWorker{client: client, outbox: outbox, opts: o, owner: newOwner(), onDemand: onDemand, wake: make(chan struct{}, 1)}
	w.ctx, w.stop = context.WithCancel(context.Background())
	if !onDemand {
		w.start()
	}
	return w
}

// start runs the loop, or wakes it if it runs.
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
	w.loops.Go(w.loop)
}

func (w *CompletionWorker) loop() {
	for {
		w.drain(w.ctx)
		if w.onDemand && w.idle() {
			return
		}
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		case <-time.After(w.opts.PollInterval):
		}
	}
}

// idle reports that nothing is pending and marks the loop stopped; a
// wake-up that raced it keeps the loop running.
func (w *CompletionWorker) idle() bool {
	st, err := w.outbox.Stats(w.ctx)
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

// drain delivers due completions until none is due or ctx ends.
func (w *CompletionWorker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		const batch = 8
		cs, err := w.outbox.Claim(ctx, w.owner, batch, w.opts.Lease)
		if err != nil {
			if ctx.Err() == nil {
				w.opts.Logger.Warn("fanfare: completion outbox failed", "op", "claim", "error", err)
			}
			return
		}
		for _, c := range cs {
			w.deliver(ctx, c)
		}
		if len(cs) < batch {
			return
		}
	}
}

// deliver makes one attempt at c, which this worker has claimed.
func (w *CompletionWorker) deliver(ctx context.Context, c Completion) {
	err := w.attempt(ctx, c, w.opts.Lease/3)
	var delay time.Duration // closing: due at once, for Close's drain or another instance
	switch {
	case err == nil:
		return
	case permanent(err), w.opts.Clock().Sub(c.Since) >= w.opts.GiveUpAfter:
		w.giveUp(context.WithoutCancel(ctx), c, err)
		return
	case ctx.Err() == nil:
		delay = w.backoff(c.Attempts + 1)
		w.opts.Logger.Warn("fanfare: completion not delivered; retrying", "distribution", c.Distribution.String(),
			"attempts", c.Attempts+1, "retry_in", delay, "error", err)
	}
	if err := w.outbox.Retry(context.WithoutCancel(ctx), c.ID, w.owner, delay); err != nil && !errors.Is(err, ErrHoldLost) {
		w.opts.Logger.Warn("fanfare: completion outbox failed", "op", "retry", "error", err)
	}
}

func (w *CompletionWorker) attempt(ctx context.Context, c Completion, timeout time.Duration) error {
	attemptCtx, cancel := context.WithTimeout(ctx, timeout)
	err := w.client.complete(attemptCtx, c.Distribution, c.ConsumerID, 1)
	cancel()
	if err != nil {
		return err
	}
	if err := w.outbox.Done(context.WithoutCancel(ctx), c.ID); err != nil {
		w.opts.Logger.Warn("fanfare: completion outbox failed; the completion will be delivered again", "op", "done", "error", err)
	}
	return nil
}

// permanent reports that Fanfare refused the completion itself, not our
// credentials or its own capacity.
func permanent(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && !errors.Is(err, ErrUnavailable) && ae.StatusCode >= 400 && ae.StatusCode < 500 &&
		!slices.Contains([]int{401, 403, 408, 429}, ae.StatusCode)
}

func (w *CompletionWorker) giveUp(ctx context.Context, c Completion, err error) {
	w.opts.Logger.Error("fanfare: completion given up; Fanfare does not know this admission was used",
		"distribution", c.Distribution.String(), "consumer", c.ConsumerID, "attempts", c.Attempts+1,
		"since", c.Since, "error", err)
	if err := w.outbox.Done(ctx, c.ID); err != nil {
		w.opts.Logger.Warn("fanfare: completion outbox failed", "op", "done", "error", err)
	}
	if w.opts.OnGiveUp == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			w.opts.Logger.Error("fanfare: OnGiveUp panicked", "panic", fmt.Sprint(p))
		}
	}()
	w.opts.OnGiveUp(c, err)
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

// deliverNow makes the one quick (100 ms) attempt the consumer's answer
// waits for; a completion it misses is left to the loop.
func (w *CompletionWorker) deliverNow(ctx context.Context, c Completion) {
	if err := w.attempt(ctx, c, 100*time.Millisecond); err != nil {
		w.opts.Logger.Warn("fanfare: completion not delivered at once; the outbox will retry",
			"distribution", c.Distribution.String(), "error", err)
		w.start()
	}
}

// Close stops the worker, then keeps delivering until nothing is pending or
// ctx ends, attempts coming due by their backoff. It returns an error when
// completions remain pending: in an in-memory outbox they are lost when the
// process exits; in a shared one another instance delivers them. Close is
// safe to call more than once.
func (w *CompletionWorker) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.stop()
	w.loops.Wait()
	for {
		w.drain(ctx)
		st, err := w.outbox.Stats(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("fanfare: completion outbox: %w", err)
		}
		if st.Pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fanfare: %d completions still pending, the oldest since %v", st.Pending, st.Oldest.Format(time.RFC3339))
		case <-time.After(w.opts.PollInterval):
		}
	}
}
