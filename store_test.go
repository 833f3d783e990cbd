package fanfare_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
			if err := s.Acquire(ctx, k, "o", time.Minute); err != nil {
				require.ErrorIs(t, err, fanfare.ErrTooManyKeys)
				refused = k
				break
			}
		}
		require.NotEmpty(t, refused, "got no ErrTooManyKeys, want one beyond MaxKeys")
		assert.LessOrEqual(t, fanfare.MemoryStoreLen(s), 64*8)
		// The store stays full for the refused key.
		assert.ErrorIs(t, s.MarkUsed(ctx, refused, time.Minute, nil), fanfare.ErrTooManyKeys)
	})

	t.Run("expired keys make room again", func(t *testing.T) {
		now = now.Add(time.Minute + time.Second)
		assert.Equal(t, 0, fanfare.MemoryStoreLen(s))
		assert.NoError(t, s.Acquire(ctx, "fresh", "o", time.Minute))
	})
}

// TestMemoryStoreFullReclaimsFirstExpiry: a full store does not sweep on
// every refused key, but the first key to expire, however it got its expiry,
// makes room at once.
func TestMemoryStoreFullReclaimsFirstExpiry(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: func() time.Time { return now }, MaxKeys: 1000})
	for i := range 1000 {
		require.NoError(t, s.Acquire(ctx, fmt.Sprint("k", i), "o", time.Hour))
	}
	require.ErrorIs(t, s.Acquire(ctx, "new", "o", time.Hour), fanfare.ErrTooManyKeys)
	require.NoError(t, s.Renew(ctx, "k500", "o", time.Second), "a hold renewed shorter")
	require.NoError(t, s.MarkUsed(ctx, "k700", 2*time.Second, nil), "a used mark shorter than the hold")
	require.ErrorIs(t, s.Acquire(ctx, "new", "o", time.Hour), fanfare.ErrTooManyKeys)

	now = now.Add(time.Second)
	require.NoError(t, s.Acquire(ctx, "new", "o", time.Hour), "the renewed hold expired")
	require.ErrorIs(t, s.Acquire(ctx, "new2", "o", time.Hour), fanfare.ErrTooManyKeys)
	now = now.Add(time.Second)
	require.NoError(t, s.Acquire(ctx, "new2", "o", time.Hour), "the used mark expired")
	require.ErrorIs(t, s.Acquire(ctx, "new3", "o", time.Hour), fanfare.ErrTooManyKeys)
}

// TestMemoryStoreMarkUsedIsAtomic: a MarkUsed refused for want of room
// leaves neither the mark nor the completion behind.
func TestMemoryStoreMarkUsedIsAtomic(t *testing.T) {
	ctx := context.Background()
	s := fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{MaxKeys: 64})
	marked := 0
	for i := range 64 * 64 {
		k := fmt.Sprint("k", i)
		c := fanfare.Completion{ID: k, Distribution: fanfare.Queue("q_1"), ConsumerID: "c"}
		err := s.MarkUsed(ctx, k, time.Minute, &c)
		if err == nil {
			marked++
			continue
		}
		require.ErrorIs(t, err, fanfare.ErrTooManyKeys)
		used, err := s.IsUsed(ctx, k)
		require.NoError(t, err)
		assert.False(t, used, "a refused MarkUsed marked the key")
		break
	}
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, marked, st.Pending, "completions pending, one per used mark")
	assert.Less(t, marked, 64*64, "got no ErrTooManyKeys")
}

// TestRequireAdmissionUsedMarkOutlivesToken: with local verification only,
// the used mark is all that stops a replay, so it must last as long as the
// token is accepted — to the instant, leeway included.
func TestRequireAdmissionUsedMarkOutlivesToken(t *testing.T) {
	v, err := fanfare.NewHMACVerifier(admKeys().hmac)
	require.NoError(t, err)
	for _, leeway := range []time.Duration{time.Second, 5 * time.Second, time.Minute} {
		t.Run(leeway.String(), func(t *testing.T) {
			clock := newAdmClock(admEpoch)
			h := fanfare.RequireAdmission(nil, fanfare.AdmissionOptions{
				Distribution:            admQueue,
				Verifier:                v,
				DisableRemoteValidation: true,
				Leeway:                  leeway,
				HoldTTL:                 time.Second,
				Clock:                   clock.Now,
			})(admEcho(http.StatusOK))
			tok := admSign(t, jwt.SigningMethodHS256, admKeys().hmac, admClaims(admQueue, "c_replay", admEpoch, 10*time.Minute), "")

			res := admDo(t, h, admRequest(tok))
			require.Equal(t, http.StatusOK, res.Status, res.Raw)

			// The last instant the token is still accepted.
			clock.Set(admEpoch.Add(10*time.Minute + leeway))
			res = admDo(t, h, admRequest(tok))
			assert.Equal(t, http.StatusConflict, res.Status, "replay at the token's last instant: %s", res.Raw)

			clock.Advance(time.Nanosecond)
			res = admDo(t, h, admRequest(tok))
			assert.Equal(t, http.StatusForbidden, res.Status, "replay once expired: %s", res.Raw)
		})
	}
}
