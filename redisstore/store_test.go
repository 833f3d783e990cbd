package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/redisstore"
	"github.com/waitify-io/fanfare-go/redisstore/internal/redistest"
	"github.com/waitify-io/fanfare-go/storetest"
)

var prefixes atomic.Int64

// uniquePrefix gives each store of a test run its own keys on a shared
// server.
func uniquePrefix() string { return fmt.Sprint("t", time.Now().UnixNano(), ".", prefixes.Add(1)) }

func newStore(t *testing.T, client redis.Scripter) *redisstore.Store {
	t.Helper()
	s, err := redisstore.NewStore(client, redisstore.StoreOptions{Prefix: uniquePrefix()})
	require.NoError(t, err)
	return s
}

func TestStoreConformance(t *testing.T) {
	client := redistest.Start(t).Client(t)
	storetest.Run(t, func(t *testing.T, _ func() time.Time) fanfare.Store {
		return newStore(t, client)
	})
}

func TestNewStoreRefusesBadOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	for _, opts := range []redisstore.StoreOptions{
		{Prefix: "a{b"},
		{Prefix: "a}b"},
		{Timeout: -time.Second},
	} {
		_, err := redisstore.NewStore(client, opts)
		require.Error(t, err, "%+v", opts)
		assert.True(t, strings.HasPrefix(err.Error(), "redisstore: "), err.Error())
	}
	_, err := redisstore.NewStore(nil, redisstore.StoreOptions{})
	assert.Error(t, err)
}

// TestStoreOneRoundTrip: each method is one script, one EVALSHA.
func TestStoreOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	client := srv.Client(t)
	s := newStore(t, client)
	c := fanfare.Completion{ID: "k", Distribution: fanfare.Queue("q"), ConsumerID: "c"}
	ops := []func() error{
		func() error { return s.Acquire(ctx, "k", "o", time.Minute) },
		func() error { return s.Renew(ctx, "k", "o", time.Minute) },
		func() error { return s.MarkUsed(ctx, "k", time.Minute, &c) },
		func() error { _, err := s.IsUsed(ctx, "k"); return err },
		func() error { return s.Release(ctx, "k", "o") },
		func() error { _, err := s.Claim(ctx, "w", 10, time.Minute); return err },
		func() error { return s.Retry(ctx, "k", "w", 0) },
		func() error { _, err := s.Stats(ctx); return err },
		func() error { return s.Done(ctx, "k") },
	}
	run := func() {
		for _, op := range ops {
			// A lost hold and, on the second run, a used key are answers,
			// not failures.
			if err := op(); !errors.Is(err, fanfare.ErrHoldLost) && !errors.Is(err, fanfare.ErrAdmissionUsed) {
				require.NoError(t, err)
			}
		}
	}
	run() // loads the scripts
	require.NoError(t, client.ConfigResetStat(ctx).Err())
	run()
	stats := client.Info(ctx, "commandstats").Val()
	assert.Contains(t, stats, fmt.Sprintf("cmdstat_evalsha:calls=%d,", len(ops)))
	assert.NotContains(t, stats, "cmdstat_eval:")
}

// TestStoreTakeOverAcrossInstances: a worker on one instance claims a
// completion and dies without Retry or Done; once its lease ends, a worker
// on another instance (another client, another Store) takes it over.
func TestStoreTakeOverAcrossInstances(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	a, err := redisstore.NewStore(srv.Client(t), redisstore.StoreOptions{Prefix: prefix})
	require.NoError(t, err)
	b, err := redisstore.NewStore(srv.Client(t), redisstore.StoreOptions{Prefix: prefix})
	require.NoError(t, err)

	c := fanfare.Completion{ID: "queue:q_1:c_1", Distribution: fanfare.Queue("q_1"), ConsumerID: "c_1"}
	require.NoError(t, a.MarkUsed(ctx, c.ID, time.Hour, &c))
	const lease = 300 * time.Millisecond
	got, err := a.Claim(ctx, "worker-a", 10, lease)
	require.NoError(t, err)
	require.Len(t, got, 1)
	claimedAt := time.Now()
	// worker-a is gone. Until its lease ends, nobody else gets the completion.
	got, err = b.Claim(ctx, "worker-b", 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, got)

	require.Eventually(t, func() bool {
		got, err = b.Claim(ctx, "worker-b", 10, time.Minute)
		require.NoError(t, err)
		return len(got) == 1
	}, 5*time.Second, 10*time.Millisecond)
	assert.GreaterOrEqual(t, time.Since(claimedAt), lease-10*time.Millisecond, "taken over before the lease ended")
	assert.Equal(t, c.ID, got[0].ID)
	assert.ErrorIs(t, a.Retry(ctx, c.ID, "worker-a", time.Second), fanfare.ErrHoldLost)
	require.NoError(t, b.Done(ctx, c.ID))
	st, err := a.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Pending)
}

// TestStoreKeys: every key of a store carries its hash tag, so a Cluster
// keeps them in one slot.
func TestStoreKeys(t *testing.T) {
	ctx := context.Background()
	client := redistest.Start(t).Client(t)
	s, err := redisstore.NewStore(client, redisstore.StoreOptions{Prefix: "shop"})
	require.NoError(t, err)
	c := fanfare.Completion{ID: "queue:q:c", Distribution: fanfare.Queue("q"), ConsumerID: "c", Attempts: 1}
	require.NoError(t, s.MarkUsed(ctx, "queue:q:c", time.Hour, &c))
	require.NoError(t, s.Acquire(ctx, "queue:q:d", "o", time.Hour))
	keys, err := client.Keys(ctx, "*").Result()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"{shop}:a:queue:q:c", "{shop}:a:queue:q:d",
		"{shop}:due", "{shop}:job", "{shop}:tries", "{shop}:since",
	}, keys)
	ttl := client.PTTL(ctx, "{shop}:a:queue:q:c").Val()
	assert.InDelta(t, time.Hour, ttl, float64(time.Minute), "used mark's TTL")
}
