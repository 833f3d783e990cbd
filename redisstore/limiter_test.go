package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/limitertest"
	"github.com/waitify-io/fanfare-go/redisstore"
	"github.com/waitify-io/fanfare-go/redisstore/internal/redistest"
)

func newLimiter(t *testing.T, client redis.Scripter, opts redisstore.LimiterOptions) *redisstore.Limiter {
	t.Helper()
	opts.Prefix = uniquePrefix()
	l, err := redisstore.NewLimiter(client, opts)
	require.NoError(t, err)
	return l
}

func TestLimiterConformance(t *testing.T) {
	client := redistest.Start(t).Client(t)
	limitertest.Run(t, func(t *testing.T, limit fanfare.Limit, clock func() time.Time) fanfare.Limiter {
		return newLimiter(t, client, redisstore.LimiterOptions{Limit: limit, Clock: clock})
	})
}

// TestLimiterRedisClock: without a Clock, Redis's TIME decides, and a key
// lives no longer than its window.
func TestLimiterRedisClock(t *testing.T) {
	ctx := context.Background()
	client := redistest.Start(t).Client(t)
	const window = 500 * time.Millisecond
	l := newLimiter(t, client, redisstore.LimiterOptions{Limit: fanfare.Limit{Requests: 3, Window: window}})
	start := time.Now()
	for i := range 3 {
		d, err := l.Allow(ctx, "k")
		require.NoError(t, err)
		require.True(t, d.Allowed, "request %d", i+1)
		assert.Equal(t, 2-i, d.Remaining)
	}
	d, err := l.Allow(ctx, "k")
	require.NoError(t, err)
	require.False(t, d.Allowed)
	assert.Positive(t, d.RetryAfter)
	assert.LessOrEqual(t, d.RetryAfter, window)
	assert.Equal(t, d.RetryAfter, d.ResetAfter)

	keys, err := client.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.LessOrEqual(t, client.PTTL(ctx, keys[0]).Val(), window)

	time.Sleep(time.Until(start.Add(window + 20*time.Millisecond)))
	d, err = l.Allow(ctx, "k")
	require.NoError(t, err)
	assert.True(t, d.Allowed, "a window after the burst")
}

// TestLimiterRefusalWritesNothing: a refused request changes no key, so a
// flood of refused requests costs Redis no memory or writes.
func TestLimiterRefusalWritesNothing(t *testing.T) {
	ctx := context.Background()
	client := redistest.Start(t).Client(t)
	l := newLimiter(t, client, redisstore.LimiterOptions{Limit: fanfare.Limit{Requests: 2, Window: time.Hour}})
	for range 2 {
		_, err := l.Allow(ctx, "k")
		require.NoError(t, err)
	}
	dirty := func() string { return redistest.Info(ctx, client, "persistence", "rdb_changes_since_last_save") }
	before := dirty()
	for range 20 {
		d, err := l.Allow(ctx, "k")
		require.NoError(t, err)
		require.False(t, d.Allowed)
	}
	assert.Equal(t, before, dirty(), "writes by refused requests")
}

// TestLimiterOneRoundTrip counts the commands Redis ran per decision.
func TestLimiterOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	client := redistest.Start(t).Client(t)
	l := newLimiter(t, client, redisstore.LimiterOptions{})
	_, err := l.Allow(ctx, "warm-up") // loads the script
	require.NoError(t, err)
	require.NoError(t, client.ConfigResetStat(ctx).Err())
	const n = 25
	for i := range n {
		_, err := l.Allow(ctx, fmt.Sprint("k", i%3))
		require.NoError(t, err)
	}
	stats := client.Info(ctx, "commandstats").Val()
	assert.Contains(t, stats, fmt.Sprintf("cmdstat_evalsha:calls=%d,", n))
	assert.NotContains(t, stats, "cmdstat_eval:")
}

func TestNewLimiterRefusesBadOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	for _, opts := range []redisstore.LimiterOptions{
		{Limit: fanfare.Limit{Requests: -1}},
		{Limit: fanfare.Limit{Requests: 1 << 16}},
		{Limit: fanfare.Limit{Window: -time.Second}},
		{Limit: fanfare.Limit{Window: 25 * 24 * time.Hour}},
		{Timeout: -time.Second},
	} {
		_, err := redisstore.NewLimiter(client, opts)
		assert.Error(t, err, "%+v", opts)
	}
	l, err := redisstore.NewLimiter(client, redisstore.LimiterOptions{})
	require.NoError(t, err)
	assert.Equal(t, fanfare.Limit{Requests: 10, Window: time.Minute}, l.Limit())
}
