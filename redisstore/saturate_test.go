package redisstore_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/redisstore/internal/redistest"
)

// forever is the largest duration: what time.Time.Sub saturates to, and what
// RequireAdmission passes to MarkUsed for a token that expires more than 292
// years from now ("Sub saturates; so do stores"). The memory store saturates
// it (addSat); a Redis store must too.
const forever = time.Duration(math.MaxInt64)

// TestStoreMarkUsedWithSaturatedTTLKeepsTheMark: a used mark whose TTL is
// the largest duration is kept, so the admission cannot be held again.
func TestStoreMarkUsedWithSaturatedTTLKeepsTheMark(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, redistest.Start(t).Client(t))
	c := fanfare.Completion{ID: "queue:q:c", Distribution: fanfare.Queue("q"), ConsumerID: "c"}
	require.NoError(t, s.Acquire(ctx, c.ID, "first", time.Minute))
	require.NoError(t, s.MarkUsed(ctx, c.ID, forever, &c))

	used, err := s.IsUsed(ctx, c.ID)
	require.NoError(t, err)
	assert.True(t, used, "a used admission is not marked used")
	assert.ErrorIs(t, s.Acquire(ctx, c.ID, "second", time.Minute), fanfare.ErrAdmissionUsed,
		"a used admission is held again: a second order")
}

// TestStoreAcquireWithSaturatedTTLHolds: a hold whose TTL is the largest
// duration holds, so another owner is refused.
func TestStoreAcquireWithSaturatedTTLHolds(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, redistest.Start(t).Client(t))
	require.NoError(t, s.Acquire(ctx, "k", "first", forever))
	assert.ErrorIs(t, s.Acquire(ctx, "k", "second", time.Minute), fanfare.ErrAdmissionInUse,
		"two owners hold one admission")
	require.NoError(t, s.Renew(ctx, "k", "first", forever))
	assert.ErrorIs(t, s.Acquire(ctx, "k", "second", time.Minute), fanfare.ErrAdmissionInUse,
		"a renewed hold is gone")
}

// TestStoreClaimWithSaturatedLeaseLeases: a completion claimed with the
// largest lease is not handed to another worker.
func TestStoreClaimWithSaturatedLeaseLeases(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, redistest.Start(t).Client(t))
	c := fanfare.Completion{ID: "queue:q:c", Distribution: fanfare.Queue("q"), ConsumerID: "c"}
	require.NoError(t, s.MarkUsed(ctx, c.ID, time.Hour, &c))
	got, err := s.Claim(ctx, "a", 10, forever)
	require.NoError(t, err)
	require.Len(t, got, 1)
	got, err = s.Claim(ctx, "b", 10, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, got, "a leased completion claimed by a second worker")
}

// TestStoreRetryWithSaturatedDelayIsNotDueAtOnce: a completion retried with
// the largest delay is not due again at once.
func TestStoreRetryWithSaturatedDelayIsNotDueAtOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, redistest.Start(t).Client(t))
	c := fanfare.Completion{ID: "queue:q:c", Distribution: fanfare.Queue("q"), ConsumerID: "c"}
	require.NoError(t, s.MarkUsed(ctx, c.ID, time.Hour, &c))
	got, err := s.Claim(ctx, "a", 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.NoError(t, s.Retry(ctx, c.ID, "a", forever))
	got, err = s.Claim(ctx, "b", 10, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, got, "a completion retried after the largest delay is due at once")
}
