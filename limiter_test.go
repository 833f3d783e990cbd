package fanfare_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/limitertest"
)

func TestMemoryLimiterConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, limit fanfare.Limit, clock func() time.Time) fanfare.Limiter {
		return fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Limit: limit, Clock: clock})
	})
}

func TestMemoryLimiterDefaults(t *testing.T) {
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{})
	assert.Equal(t, fanfare.Limit{Requests: 10, Window: time.Minute}, l.Limit())

	l = fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Requests: 3}})
	assert.Equal(t, fanfare.Limit{Requests: 3, Window: time.Minute}, l.Limit(), "zero Window defaults alone")

	l = fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Window: time.Minute + 1}})
	assert.Equal(t, fanfare.Limit{Requests: 10, Window: time.Minute + 1}, l.Limit(), "the window is kept to the nanosecond")
}

func TestNewMemoryLimiterPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts fanfare.MemoryLimiterOptions
	}{
		{"negative requests", fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Requests: -1}}},
		{"too many requests", fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Requests: 1 << 16}}},
		{"negative window", fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Window: -time.Second}}},
		{"window too long", fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Window: 25 * 24 * time.Hour}}},
		{"negative MaxKeys", fanfare.MemoryLimiterOptions{MaxKeys: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				require.NotNil(t, r, "no panic")
				assert.Contains(t, fmt.Sprint(r), "fanfare: ")
			}()
			fanfare.NewMemoryLimiter(tc.opts)
		})
	}
}

func TestMemoryLimiterReclaimsIdleKeys(t *testing.T) {
	c := fanfaretest.NewClock(time.Time{})
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Clock: c.Now})
	const keys = 5000
	for i := range keys {
		_, err := l.Allow(t.Context(), fmt.Sprintf("old-%d", i))
		require.NoError(t, err)
	}
	require.Equal(t, keys, fanfare.MemoryLimiterLen(l))

	c.Advance(time.Minute - time.Millisecond)
	for range 2 * keys {
		_, err := l.Allow(t.Context(), "live")
		require.NoError(t, err)
	}
	assert.Equal(t, keys+1, fanfare.MemoryLimiterLen(l), "nothing is idle one millisecond before the window ends")

	c.Advance(time.Millisecond)
	// The first decision on a shard a window after its last sweep sweeps
	// it: 4000 new keys reach every one of the 256 shards. (A shard without
	// traffic keeps its idle keys until it gets some, or until a new key at
	// MaxKeys needs the room.)
	const newKeys = keys - 1000
	for i := range newKeys {
		_, err := l.Allow(t.Context(), fmt.Sprintf("new-%d", i))
		require.NoError(t, err)
	}
	assert.Equal(t, newKeys+1, fanfare.MemoryLimiterLen(l), "keys after the window: the new ones and live")
	d, err := l.Allow(t.Context(), "live")
	require.NoError(t, err)
	assert.False(t, d.Allowed, "a key still limited survives the sweep with its count")
	assert.Equal(t, time.Minute-time.Millisecond, d.RetryAfter, "its ten requests came a millisecond before the others went idle")
}

func TestMemoryLimiterMaxKeys(t *testing.T) {
	c := fanfaretest.NewClock(time.Time{})
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{
		Limit:   fanfare.Limit{Requests: 2, Window: time.Minute},
		MaxKeys: 100,
		Clock:   c.Now,
	})
	for i := range 100 {
		d, err := l.Allow(t.Context(), fmt.Sprintf("flood-%d", i))
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	_, err := l.Allow(t.Context(), "victim")
	require.ErrorIs(t, err, fanfare.ErrTooManyKeys, "a new key beyond MaxKeys")
	assert.Equal(t, 100, fanfare.MemoryLimiterLen(l))

	// Known keys are still decided, and limited, at the cap.
	d, err := l.Allow(t.Context(), "flood-7")
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	d, err = l.Allow(t.Context(), "flood-7")
	require.NoError(t, err)
	assert.False(t, d.Allowed, "a live key keeps its count: the cap evicts nobody")

	c.Advance(59 * time.Second)
	_, err = l.Allow(t.Context(), "victim")
	require.ErrorIs(t, err, fanfare.ErrTooManyKeys, "the flood is still inside its window")

	c.Advance(time.Second)
	for i := range 100 {
		d, err := l.Allow(t.Context(), fmt.Sprintf("later-%d", i))
		require.NoError(t, err, "new key %d once the flood went idle", i)
		require.True(t, d.Allowed)
	}
	// flood-7 was refreshed at 0s+ε only; every flood key is idle now.
	assert.LessOrEqual(t, fanfare.MemoryLimiterLen(l), 100)
}

func TestMemoryLimiterZeroAllocs(t *testing.T) {
	// A clock that moves a little per decision: keys stay known, and every
	// shard is swept now and then.
	c := fanfaretest.NewClock(time.Time{})
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Requests: 1000, Window: time.Second}, Clock: c.Now})
	ctx := t.Context()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("ip:192.0.2.%d", i)
		_, err := l.Allow(ctx, keys[i])
		require.NoError(t, err)
	}
	i := 0
	allocs := testing.AllocsPerRun(10000, func() {
		d, _ := l.Allow(ctx, keys[i%len(keys)])
		if !d.Allowed {
			t.Fatal("denied")
		}
		i++
		c.Advance(100 * time.Microsecond)
	})
	assert.Zero(t, allocs, "allocations per decision for a known key")
}

// TestMemoryLimiterLongRun runs a key for a day at the limit's rate, with
// another left behind at the start: sweeps and reuse of records must not
// disturb either.
func TestMemoryLimiterLongRun(t *testing.T) {
	c := fanfaretest.NewClock(time.Time{})
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{Limit: fanfare.Limit{Requests: 2, Window: time.Minute}, Clock: c.Now})
	_, err := l.Allow(t.Context(), "other")
	require.NoError(t, err)
	// One request every 20s with 2 per minute: allow, allow, deny, over and over.
	for i := range 24 * 60 * 60 / 20 {
		d, err := l.Allow(t.Context(), "k")
		require.NoError(t, err)
		require.Equal(t, i%3 != 2, d.Allowed, "request %d, at %v", i, time.Duration(i)*20*time.Second)
		c.Advance(20 * time.Second)
	}
	d, err := l.Allow(t.Context(), "other")
	require.NoError(t, err)
	assert.Equal(t, fanfare.Decision{Allowed: true, Limit: 2, Remaining: 1, ResetAfter: time.Minute}, d)
}

// TestMemoryLimiterLongKeys covers long keys through eviction and the reuse
// of their records.
func TestMemoryLimiterLongKeys(t *testing.T) {
	c := fanfaretest.NewClock(time.Time{})
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{
		Limit: fanfare.Limit{Requests: 1, Window: time.Minute}, MaxKeys: 50, Clock: c.Now,
	})
	long := func(prefix string, i int) string { return fmt.Sprintf("%s-%060d", prefix, i) }
	for i := range 50 {
		d, err := l.Allow(t.Context(), long("a", i))
		require.NoError(t, err)
		require.True(t, d.Allowed)
		d, err = l.Allow(t.Context(), long("a", i))
		require.NoError(t, err)
		require.False(t, d.Allowed, "second request of long key %d", i)
	}
	c.Advance(time.Minute)
	for i := range 50 {
		d, err := l.Allow(t.Context(), long("b", i))
		require.NoError(t, err, "new long key %d once the others idled", i)
		require.True(t, d.Allowed)
	}
	for i := range 50 {
		d, err := l.Allow(t.Context(), long("b", i))
		require.NoError(t, err)
		require.False(t, d.Allowed, "long key %d kept its count in a reused record", i)
	}
}

// TestMemoryLimiterFarClock: a Clock centuries away from the one the
// limiter started with must not overflow into a fresh budget.
func TestMemoryLimiterFarClock(t *testing.T) {
	now := time.Time{}
	l := fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{
		Limit: fanfare.Limit{Requests: 2, Window: time.Minute},
		Clock: func() time.Time { return now },
	})
	now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) // 2030 years on: Sub saturates
	for i := range 20 {
		d, err := l.Allow(t.Context(), "k")
		require.NoError(t, err)
		assert.Equal(t, i < 2, d.Allowed, "request %d", i+1)
		now = now.Add(time.Second)
	}
}
