package fanfare

import (
	"context"
	"time"
)

// Completion is a completion owed to Fanfare: the admission of ConsumerID to
// Distribution bought an order, and Fanfare must be told (complete is
// idempotent per consumer and distribution, so delivering twice is harmless,
// never delivering is not).
type Completion struct {
	// ID names the completion in its outbox: the admission's Store key.
	// One admission has at most one pending completion.
	ID string
	// Distribution and ConsumerID say what to complete.
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
// leases to expire, and another worker (on any instance sharing the store)
// takes the completions over.
//
// Every method is one atomic operation. Times come from the outbox's own
// clock. Run the conformance suite in package storetest against any
// implementation.
type Outbox interface {
	// Claim leases to owner, for lease, up to n completions that are due
	// (their next attempt time has come and no live lease holds them),
	// earliest due first, and returns them. A claimed completion is not
	// returned by another Claim until its lease ends.
	Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]Completion, error)
	// Done removes completion id: Fanfare accepted it. Done of an absent id
	// is no error.
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
	// Pending counts the completions not yet delivered, leased or not.
	Pending int
	// Oldest is the Since of the oldest pending completion; zero when
	// nothing is pending.
	Oldest time.Time
}
