package fanfare_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) fanfare.Store {
		return fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: clock})
	})
}

func TestMemoryStoreBounded(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	s := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: clock, MaxKeys: 64 * 8})

	t.Run("full store refuses new keys", func(t *testing.T) {
		refused := ""
		for i := range 64 * 64 {
			k := fmt.Sprint("k", i)
			if _, err := s.Acquire(ctx, k, "o", time.Minute); err != nil {
				require.ErrorIs(t, err, fanfare.ErrStoreFull)
				refused = k
				break
			}
		}
		require.NotEmpty(t, refused, "got no ErrStoreFull, want one beyond MaxKeys")
		assert.LessOrEqual(t, s.Len(), 64*8)
		// The cap is per shard: the refused key's shard stays full.
		assert.ErrorIs(t, s.MarkUsed(ctx, refused, time.Minute, nil), fanfare.ErrStoreFull)
	})

	t.Run("expired keys make room again", func(t *testing.T) {
		now = now.Add(time.Minute + time.Second)
		assert.Equal(t, 0, s.Len())
		got, err := s.Acquire(ctx, "fresh", "o", time.Minute)
		require.NoError(t, err)
		assert.Equal(t, fanfare.Acquired, got)
	})
}

func TestAcquireResultString(t *testing.T) {
	for r, want := range map[fanfare.AcquireResult]string{
		fanfare.Acquired: "acquired", fanfare.InUse: "in use", fanfare.Used: "used", 0: "invalid",
	} {
		assert.Equal(t, want, r.String())
	}
}
