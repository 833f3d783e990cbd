package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/limitertest"
	"github.com/waitify-io/fanfare-go/redisstore"
	"github.com/waitify-io/fanfare-go/redisstore/internal/redistest"
	"github.com/waitify-io/fanfare-go/storetest"
)

// TestCluster runs both conformance suites on a three-node Redis Cluster:
// a CROSSSLOT error anywhere fails them. The store's keys share one slot;
// the limiter's spread over every node.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Redis Cluster")
	}
	cluster := redistest.StartCluster(t)
	client := cluster.Client(t)
	ctx := context.Background()

	t.Run("Store", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, _ func() time.Time) fanfare.Store {
			return newStore(t, client)
		})
	})

	t.Run("Limiter", func(t *testing.T) {
		limitertest.Run(t, func(t *testing.T, limit fanfare.Limit, clock func() time.Time) fanfare.Limiter {
			return newLimiter(t, client, redisstore.LimiterOptions{Limit: limit, Clock: clock})
		})
	})

	t.Run("store keys share a slot, limiter keys spread", func(t *testing.T) {
		s := newStore(t, client)
		for i := range 20 {
			k := fmt.Sprint("queue:q_1:c_", i)
			c := fanfare.Completion{ID: k, Distribution: fanfare.Queue("q_1"), ConsumerID: fmt.Sprint("c_", i)}
			require.NoError(t, s.MarkUsed(ctx, k, time.Hour, &c))
		}
		claimed, err := s.Claim(ctx, "w", 100, time.Minute)
		require.NoError(t, err)
		assert.Len(t, claimed, 20)

		l := newLimiter(t, client, redisstore.LimiterOptions{})
		for i := range 60 {
			_, err := l.Allow(ctx, fmt.Sprint("ip:192.0.2.", i))
			require.NoError(t, err)
		}
		var nodesWithKeys atomic.Int32 // ForEachMaster runs concurrently
		err = client.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			if node.DBSize(ctx).Val() > 0 {
				nodesWithKeys.Add(1)
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, int32(3), nodesWithKeys.Load(), "masters holding keys")
	})
}
