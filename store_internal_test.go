package fanfare

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawLen counts the entries the maps hold, expired ones included.
func (s *memoryStore) rawLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func TestMemoryStoreReclaimsExpiredKeys(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s := NewMemoryStore(MemoryStoreOptions{Clock: func() time.Time { return now }}).(*memoryStore)
	const burst = 100_000
	// Two bursts of holds, the first expired before the second: the second
	// must reclaim the first as it grows, not pile on top of it.
	for _, prefix := range []string{"a", "b"} {
		for i := range burst {
			require.NoError(t, s.Acquire(ctx, fmt.Sprint(prefix, i), "o", time.Second))
		}
		now = now.Add(2 * time.Second)
	}
	assert.Equal(t, 0, s.liveLen(), "live keys")
	assert.Less(t, s.rawLen(), burst+burst/2, "entries kept, expired included")

	// A quiet period after the drop: a few writes rebuild the maps small.
	for i := range 64 * 2 * minSweep {
		require.NoError(t, s.Acquire(ctx, fmt.Sprint("c", i), "o", time.Second))
	}
	now = now.Add(2 * time.Second)
	for i := range 64 * 2 * minSweep {
		require.NoError(t, s.MarkUsed(ctx, fmt.Sprint("d", i), time.Second, nil))
	}
	assert.Less(t, s.rawLen(), 64*4*minSweep)
}
