package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/redisstore"
	"github.com/waitify-io/fanfare-go/redisstore/internal/redistest"
)

// TestRedisRestart: Redis dies mid-run (append-only, fsync on every write)
// and comes back. While it is down every call fails, promptly, and none
// reports success; once it is back nothing is admitted twice, holds and
// pending completions are still there, and the scripts work again though
// Redis forgot them (NOSCRIPT, then EVAL).
func TestRedisRestart(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	client := srv.ClientWith(t, &redis.Options{
		ContextTimeoutEnabled: true,
		DialTimeout:           200 * time.Millisecond,
		MaxRetries:            1,
	})
	s, err := redisstore.NewStore(client, redisstore.StoreOptions{Prefix: "shop", Timeout: 500 * time.Millisecond})
	require.NoError(t, err)
	l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{Limit: fanfare.Limit{Requests: 2, Window: time.Hour}})
	require.NoError(t, err)

	used := fanfare.Completion{ID: "queue:q_1:c_used", Distribution: fanfare.Queue("q_1"), ConsumerID: "c_used"}
	require.NoError(t, s.Acquire(ctx, used.ID, "o1", time.Minute))
	require.NoError(t, s.MarkUsed(ctx, used.ID, time.Hour, &used))
	require.NoError(t, s.Acquire(ctx, "queue:q_1:c_held", "o2", time.Hour))
	for range 2 {
		d, err := l.Allow(ctx, "ip:192.0.2.1")
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}

	srv.Kill()

	start := time.Now()
	for _, k := range []string{used.ID, "queue:q_1:c_new"} {
		err := s.Acquire(ctx, k, "o3", time.Minute)
		assert.Error(t, err, "Acquire(%q) with Redis down", k)
		assert.NotErrorIs(t, err, fanfare.ErrAdmissionInUse, "Acquire(%q) with Redis down is a store failure", k)
		assert.NotErrorIs(t, err, fanfare.ErrAdmissionUsed, "Acquire(%q) with Redis down is a store failure", k)
	}
	assert.Error(t, s.MarkUsed(ctx, "queue:q_1:c_new", time.Hour, &used))
	assert.Error(t, s.Renew(ctx, "queue:q_1:c_held", "o2", time.Hour))
	_, err = s.IsUsed(ctx, used.ID)
	assert.Error(t, err)
	claimed, err := s.Claim(ctx, "w", 10, time.Minute)
	assert.Error(t, err)
	assert.Empty(t, claimed)
	d, err := l.Allow(ctx, "ip:192.0.2.1")
	assert.Error(t, err)
	assert.False(t, d.Allowed)
	assert.Less(t, time.Since(start), 5*time.Second, "eight calls to a Redis that is down")

	t.Logf("eight calls to a Redis that is down took %v", time.Since(start))
	srv.Restart()

	assert.ErrorIs(t, s.Acquire(ctx, used.ID, "o4", time.Minute), fanfare.ErrAdmissionUsed, "the used admission after the restart")
	assert.ErrorIs(t, s.Acquire(ctx, "queue:q_1:c_held", "o4", time.Minute), fanfare.ErrAdmissionInUse, "the held admission after the restart")
	require.NoError(t, s.Renew(ctx, "queue:q_1:c_held", "o2", time.Hour), "its holder renews it")
	d, err = l.Allow(ctx, "ip:192.0.2.1")
	require.NoError(t, err)
	assert.False(t, d.Allowed, "the limiter's window after the restart")
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Pending)
	claimed, err = s.Claim(ctx, "w", 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed, 1, "the pending completion after the restart")
	assert.Equal(t, used.ID, claimed[0].ID)
	assert.Equal(t, used.ConsumerID, claimed[0].ConsumerID)
}
