package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	fanfare "github.com/waitify-io/fanfare-go"
)

// LimiterOptions configures a [Limiter].
type LimiterOptions struct {
	// Limit is the policy enforced for every key: Requests between 1 and
	// 65535, Window up to 24 days. Default: 10 requests per minute (the
	// vendor's guide's limit on authorize).
	Limit fanfare.Limit
	// Prefix starts every key of the limiter: "Prefix:key". Limiters with
	// different policies need different prefixes, or they count each
	// other's requests. Keys carry no hash tag of their own, so on a
	// Cluster they spread over every shard. Default: "fanfare:rl".
	Prefix string
	// Timeout bounds each decision, as a deadline on its context (see
	// StoreOptions.Timeout for when go-redis honours it). Default: 1s.
	Timeout time.Duration
	// Clock, when set, tells the time of each decision instead of Redis's
	// TIME. It is for tests: instances' clocks disagree, Redis's is one.
	Clock func() time.Time
}

// Limiter is a [fanfare.Limiter] on Redis, shared by every instance: at most
// Limit.Requests requests per key in any rolling window of Limit.Window,
// exactly, like the limiter of [fanfare.NewMemoryLimiter].
//
// Each key is a sorted set of the requests it counts, scored by their time
// in microseconds on Redis's clock. A decision is one script, so one round
// trip: it counts the requests within the window, and only if there is room
// drops the ones that left it and adds this one. A refused request writes
// nothing, and RetryAfter is the exact time until the oldest counted request
// leaves the window. Each decision carries a unique member, so a script
// that go-redis sends again after a lost reply finds itself already counted
// and is not counted twice. A key expires once its last request has left
// the window; while it lives it takes about 50 bytes per request counted.
//
// Errors are returned as they are: [fanfare.RateLimitAuthorize] fails closed
// on them unless its options say to fail open.
type Limiter struct {
	client  redis.Scripter
	limit   fanfare.Limit
	prefix  string
	timeout time.Duration
	clock   func() time.Time

	window  int64  // µs
	idStart string // this limiter's random part of each member
	seq     atomic.Uint64
}

var _ fanfare.Limiter = (*Limiter)(nil)

// NewLimiter returns a limiter on client: a *redis.Client,
// *redis.ClusterClient, a Sentinel failover client, or anything that runs
// scripts.
func NewLimiter(client redis.Scripter, opts LimiterOptions) (*Limiter, error) {
	if client == nil {
		return nil, errors.New("redisstore: NewLimiter: nil client")
	}
	l := opts.Limit
	if l.Requests == 0 {
		l.Requests = 10
	}
	if l.Window == 0 {
		l.Window = time.Minute
	}
	if l.Requests < 1 || l.Requests > 1<<16-1 {
		return nil, fmt.Errorf("redisstore: Limit.Requests is %d, want 1 to 65535", l.Requests)
	}
	if l.Window < time.Microsecond || l.Window > 24*24*time.Hour {
		return nil, fmt.Errorf("redisstore: Limit.Window is %v, want 1µs to %v", l.Window, 24*24*time.Hour)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("redisstore: LimiterOptions.Timeout is %v, want 0 (the default) or more", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Prefix == "" {
		opts.Prefix = "fanfare:rl"
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return &Limiter{
		client:  client,
		limit:   l,
		prefix:  opts.Prefix + ":",
		timeout: opts.Timeout,
		clock:   opts.Clock,
		// Rounded up: a window never shorter than asked.
		window:  int64((l.Window + time.Microsecond - 1) / time.Microsecond),
		idStart: hex.EncodeToString(b[:]) + ":",
	}, nil
}

// Limit returns the policy the limiter enforces.
func (l *Limiter) Limit() fanfare.Limit { return l.limit }

// allowScript: KEYS the key; ARGV Requests, window (µs), member, now (µs,
// or "" for Redis's TIME). A request at t counts while now < t+window. It
// returns allowed (0 or 1), the requests counted, and the time (µs) until
// the oldest of them leaves the window.
//
// Times are formatted with %d: Lua's own number formatting keeps only 14
// digits, and a time in microseconds has 16.
const allowScript = `
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now
if ARGV[4] == '' then
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
	now = tonumber(ARGV[4])
end
local from = string.format('%d', now - window)
local counted = redis.call('ZCOUNT', KEYS[1], '(' .. from, '+inf')
local allowed = 0
if counted < n then
	allowed = 1
	-- NX: a retried request finds its member and is not counted again.
	if redis.call('ZADD', KEYS[1], 'NX', string.format('%d', now), ARGV[3]) == 1 then
		counted = counted + 1
		redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', from)
		local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
		redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((newest + window - now) / 1000)))
	end
elseif redis.call('ZSCORE', KEYS[1], ARGV[3]) then
	allowed = 1 -- a retried request, counted by its first run
end
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #oldest == 0 then return {allowed, counted, 0} end -- a retry of a request that has left the window
return {allowed, counted, tonumber(oldest[2]) + window - now}
`

var allow = redis.NewScript(allowScript)

// Allow implements [fanfare.Limiter].
func (l *Limiter) Allow(ctx context.Context, key string) (fanfare.Decision, error) {
	now := ""
	if l.clock != nil {
		now = strconv.FormatInt(l.clock().UnixMicro(), 10)
	}
	member := l.idStart + strconv.FormatUint(l.seq.Add(1), 36)
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	r, err := allow.Run(ctx, l.client, []string{l.prefix + key}, l.limit.Requests, l.window, member, now).Int64Slice()
	if err != nil {
		return fanfare.Decision{}, fmt.Errorf("redisstore: rate limit: %w", err)
	}
	if len(r) != 3 {
		return fanfare.Decision{}, fmt.Errorf("redisstore: rate limit: unexpected reply %v", r)
	}
	d := fanfare.Decision{
		Allowed:    r[0] == 1,
		Limit:      l.limit.Requests,
		Remaining:  max(0, l.limit.Requests-int(r[1])),
		ResetAfter: time.Duration(r[2]) * time.Microsecond,
	}
	if !d.Allowed {
		d.RetryAfter = d.ResetAfter
	}
	return d, nil
}
