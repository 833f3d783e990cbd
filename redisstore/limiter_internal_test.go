package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitify-io/fanfare-go/redisstore/internal/redistest"
)

// TestAllowScriptIsIdempotent: go-redis sends a script again when its reply
// was lost; the same member must not be counted twice.
func TestAllowScriptIsIdempotent(t *testing.T) {
	ctx := context.Background()
	client := redistest.Start(t).Client(t)
	run := func(member string) []int64 {
		r, err := allow.Run(ctx, client, []string{"k"}, 2, time.Minute.Microseconds(), member, "").Int64Slice()
		require.NoError(t, err)
		return r
	}
	first := run("m1")
	again := run("m1")
	assert.Equal(t, int64(1), first[0])
	assert.Equal(t, []int64{1, 1}, again[:2], "the retried request: allowed, counted once")
	assert.Equal(t, int64(1), client.ZCard(ctx, "k").Val())
	assert.Equal(t, int64(1), run("m2")[0])
	assert.Equal(t, int64(0), run("m3")[0])
	assert.Equal(t, int64(1), run("m2")[0], "a retry of an allowed request stays allowed once the key is full")
	assert.Equal(t, int64(2), client.ZCard(ctx, "k").Val())
}
