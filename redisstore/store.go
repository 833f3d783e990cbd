package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	fanfare "github.com/waitify-io/fanfare-go"
)

// StoreOptions configures a [Store].
type StoreOptions struct {
	// Prefix starts every key of the store and is its Cluster hash tag:
	// the keys are "{Prefix}:…". Stores sharing a Redis need distinct
	// prefixes; one store serves one Fanfare organization. It must not
	// contain '{' or '}'. Default: "fanfare".
	Prefix string
	// Timeout bounds each call, as a deadline on its context. go-redis
	// honours a context deadline while it waits for a reply only when the
	// client's Options.ContextTimeoutEnabled is true; otherwise a call to an
	// unresponsive Redis lasts ReadTimeout (default 3s) times
	// 1+MaxRetries. Default: 1s.
	Timeout time.Duration
}

// Store is a [fanfare.Store] and its [fanfare.Outbox] on Redis, shared by
// every instance of an application. Each method is one Lua script, so one
// round trip (two, once, after Redis lost its script cache: go-redis falls
// back from EVALSHA to EVAL) and atomic. A call that go-redis sends again
// after a lost reply does no harm: Acquire by the holder succeeds
// again, Renew, Release, MarkUsed and Done repeat to the same effect, and
// Claim and Retry say what a repeat does.
//
// Holds and used marks expire by Redis's own clock; the outbox tells time by
// Redis's TIME, so instances whose clocks disagree still agree on leases.
//
// # One hash tag for the whole store
//
// Every key of a store carries the same hash tag, {Prefix}, so on a Redis
// Cluster they all live in one slot, on one shard. That is what lets
// MarkUsed mark the admission used and record its completion in one atomic
// script, and lets Claim take the earliest due completions of the whole
// outbox in one round trip. The alternative — one outbox per group of slots,
// walked by Claim — would spread the store over the shards, but Claim would
// take one round trip per group and could no longer hand out completions
// earliest first.
//
// The price is small: the store sees one Acquire, a few Renews and one
// MarkUsed or Release per checkout — orders per second, not page views — and
// a single Redis shard runs tens of thousands of these scripts a second. A
// used mark costs about 100 bytes and lasts as long as the admission token,
// a pending completion a few hundred bytes until delivered. The hot,
// bot-facing traffic is the rate limiter's, and a [Limiter]'s keys are
// spread over the whole Cluster.
//
// # Failure
//
// Every error is returned as it is (wrapped): RequireAdmission answers 503
// and never admits on an error. A Redis that is down or slow costs at most
// Timeout per call when the client has ContextTimeoutEnabled (see
// [StoreOptions]). Under memory pressure Redis must refuse writes rather
// than evict keys (maxmemory-policy noeviction): an evicted used mark would
// let an admission be used twice, an evicted completion would never be
// delivered.
type Store struct {
	client  redis.Scripter
	timeout time.Duration

	admPrefix string // "{prefix}:a:", then the admission key
	outbox    []string
}

// The keys of a store's outbox, all under its hash tag.
const (
	keyDue   = iota // sorted set: id → due time (ms), or lease end while leased
	keyJob          // hash: id → the completion, JSON
	keyLease        // hash: id → owner of the lease
	keyTries        // hash: id → Attempts, when not zero
	keySince        // sorted set: id → Since (µs), for Stats
)

// NewStore returns a store on client: a *redis.Client, *redis.ClusterClient,
// a Sentinel failover client, or anything that runs scripts.
func NewStore(client redis.Scripter, opts StoreOptions) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: NewStore: nil client")
	}
	if opts.Prefix == "" {
		opts.Prefix = "fanfare"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: StoreOptions.Prefix %q contains '{' or '}': it is the hash tag itself", opts.Prefix)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("redisstore: StoreOptions.Timeout is %v, want 0 (the default) or more", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = defaultTimeout
	}
	tag := "{" + opts.Prefix + "}:"
	return &Store{
		client:    client,
		timeout:   opts.Timeout,
		admPrefix: tag + "a:",
		outbox:    []string{tag + "due", tag + "job", tag + "lease", tag + "tries", tag + "since"},
	}, nil
}

const defaultTimeout = time.Second

var _ fanfare.Store = (*Store)(nil)

// The value of an admission key: "u" when used, "h" and the owner when held.
const acquireScript = `
local v = redis.call('GET', KEYS[1])
if v == 'u' then return 3 end
if v then
	if v == 'h' .. ARGV[1] then return 1 end
	return 2
end
if tonumber(ARGV[2]) > 0 then
	redis.call('SET', KEYS[1], 'h' .. ARGV[1], 'PX', ARGV[2])
end
return 1
`

const renewScript = `
if redis.call('GET', KEYS[1]) ~= 'h' .. ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
	redis.call('DEL', KEYS[1])
end
return 1
`

const releaseScript = `
if redis.call('GET', KEYS[1]) == 'h' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`

// markUsedScript: KEYS adm, due, job, lease, tries, since; ARGV ttl (ms),
// then, with a completion, its id, JSON, Since (µs, or "" for now) and
// Attempts.
const markUsedScript = `
local ttl = tonumber(ARGV[1])
local keep = false
if redis.call('GET', KEYS[1]) == 'u' then
	local left = redis.call('PTTL', KEYS[1])
	keep = left == -1 or left >= ttl
end
if not keep then
	if ttl > 0 then
		redis.call('SET', KEYS[1], 'u', 'PX', ttl)
	else
		redis.call('DEL', KEYS[1])
	end
end
if #ARGV > 1 and redis.call('HEXISTS', KEYS[3], ARGV[2]) == 0 then
	local t = redis.call('TIME')
	local since = ARGV[4]
	if since == '' then since = t[1] .. string.format('%06d', tonumber(t[2])) end
	redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
	redis.call('ZADD', KEYS[2], string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000)), ARGV[2])
	redis.call('ZADD', KEYS[6], since, ARGV[2])
	if ARGV[5] ~= '0' then redis.call('HSET', KEYS[5], ARGV[2], ARGV[5]) end
end
return 1
`

const isUsedScript = `
if redis.call('GET', KEYS[1]) == 'u' then return 1 end
return 0
`

// claimScript: KEYS due, job, lease, tries, since; ARGV owner, n, lease
// (ms). It returns id, JSON, Attempts and Since (µs) of each claimed.
const claimScript = `
local n = tonumber(ARGV[2])
if n <= 0 then return {} end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now), 'LIMIT', 0, n)
local till = string.format('%d', now + tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
	redis.call('ZADD', KEYS[1], till, id)
	redis.call('HSET', KEYS[3], id, ARGV[1])
	out[#out + 1] = id
	out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
	out[#out + 1] = redis.call('HGET', KEYS[4], id) or '0'
	out[#out + 1] = redis.call('ZSCORE', KEYS[5], id) or '0'
end
return out
`

// retryScript: KEYS due, job, lease, tries; ARGV id, owner, delay (ms).
const retryScript = `
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local till = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not till or tonumber(till) <= now then return 0 end
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[3])), ARGV[1])
return 1
`

// doneScript: KEYS due, job, lease, tries, since; ARGV id.
const doneScript = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
`

// statsScript: KEYS due, job, lease, tries, since. It returns the count,
// then the JSON and Since (µs) of the oldest.
const statsScript = `
local n = redis.call('ZCARD', KEYS[1])
local oldest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
if #oldest == 0 then return {n} end
return {n, redis.call('HGET', KEYS[2], oldest[1]) or '', oldest[2]}
`

var (
	acquire  = redis.NewScript(acquireScript)
	renew    = redis.NewScript(renewScript)
	release  = redis.NewScript(releaseScript)
	markUsed = redis.NewScript(markUsedScript)
	isUsed   = redis.NewScript(isUsedScript)
	claim    = redis.NewScript(claimScript)
	retry    = redis.NewScript(retryScript)
	done     = redis.NewScript(doneScript)
	stats    = redis.NewScript(statsScript)
)

// ms rounds d up to whole milliseconds, Redis's resolution: a TTL or lease
// never ends early. Zero and less stay as they are (nothing held).
func ms(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	n := int64(d / time.Millisecond) // rounded up without d+999999ns, which overflows near the maximum
	if d%time.Millisecond != 0 {
		n++
	}
	return n
}

func (s *Store) run(ctx context.Context, script *redis.Script, op string, keys []string, args ...any) *redis.Cmd {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	cmd := script.Run(ctx, s.client, keys, args...)
	if err := cmd.Err(); err != nil {
		cmd.SetErr(fmt.Errorf("redisstore: %s: %w", op, err))
	}
	return cmd
}

// Acquire implements [fanfare.Store].
func (s *Store) Acquire(ctx context.Context, key, owner string, ttl time.Duration) error {
	r, err := s.run(ctx, acquire, "acquire", []string{s.admPrefix + key}, owner, ms(ttl)).Int()
	if err != nil {
		return err
	}
	switch r {
	case 1:
		return nil
	case 2:
		return fanfare.ErrAdmissionInUse
	case 3:
		return fanfare.ErrAdmissionUsed
	}
	return fmt.Errorf("redisstore: acquire: unexpected reply %d", r)
}

// Renew implements [fanfare.Store].
func (s *Store) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	r, err := s.run(ctx, renew, "renew", []string{s.admPrefix + key}, owner, ms(ttl)).Int()
	if err != nil {
		return err
	}
	if r != 1 {
		return fanfare.ErrHoldLost
	}
	return nil
}

// Release implements [fanfare.Store].
func (s *Store) Release(ctx context.Context, key, owner string) error {
	return s.run(ctx, release, "release", []string{s.admPrefix + key}, owner).Err()
}

// completionJSON is a completion as the outbox keeps it. Since and Attempts
// live beside it, so that the scripts never decode it.
type completionJSON struct {
	Type       fanfare.DistributionType `json:"type"`
	ID         string                   `json:"id"`
	ConsumerID string                   `json:"consumer"`
	Since      *time.Time               `json:"since,omitempty"` // as given, to the nanosecond
}

// MarkUsed implements [fanfare.Store]. The mark and the completion are in
// one slot (see [Store]), so one script writes both or neither.
func (s *Store) MarkUsed(ctx context.Context, key string, ttl time.Duration, c *fanfare.Completion) error {
	keys := append([]string{s.admPrefix + key}, s.outbox...)
	args := []any{ms(ttl)}
	if c != nil {
		j := completionJSON{Type: c.Distribution.Type, ID: c.Distribution.ID, ConsumerID: c.ConsumerID}
		since := ""
		if !c.Since.IsZero() {
			j.Since = &c.Since
			since = strconv.FormatInt(c.Since.UnixMicro(), 10)
		}
		b, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("redisstore: mark used: %w", err)
		}
		args = append(args, c.ID, b, since, c.Attempts)
	}
	return s.run(ctx, markUsed, "mark used", keys, args...).Err()
}

// IsUsed implements [fanfare.Store].
func (s *Store) IsUsed(ctx context.Context, key string) (bool, error) {
	r, err := s.run(ctx, isUsed, "is used", []string{s.admPrefix + key}).Int()
	return r == 1, err
}

// Claim implements [fanfare.Outbox]. The lease ends by Redis's clock; a
// worker that dies leaves its completions to the next Claim after it. If
// go-redis sends a Claim again because its reply was lost, the completions
// the first one leased stay leased to owner until the lease ends and are
// then taken over: delayed, never lost.
func (s *Store) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]fanfare.Completion, error) {
	if n <= 0 {
		return nil, nil
	}
	r, err := s.run(ctx, claim, "claim", s.outbox, owner, n, ms(lease)).StringSlice()
	if err != nil {
		return nil, err
	}
	if len(r)%4 != 0 {
		return nil, fmt.Errorf("redisstore: claim: unexpected reply of %d values", len(r))
	}
	out := make([]fanfare.Completion, 0, len(r)/4)
	for i := 0; i < len(r); i += 4 {
		c, err := decodeCompletion(r[i], r[i+1], r[i+2], r[i+3])
		if err != nil {
			return nil, fmt.Errorf("redisstore: claim: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

func decodeCompletion(id, doc, attempts, since string) (fanfare.Completion, error) {
	var j completionJSON
	if err := json.Unmarshal([]byte(doc), &j); err != nil {
		return fanfare.Completion{}, fmt.Errorf("completion %q: %w", id, err)
	}
	c := fanfare.Completion{ID: id, Distribution: fanfare.Distribution{Type: j.Type, ID: j.ID}, ConsumerID: j.ConsumerID}
	var err error
	if c.Attempts, err = strconv.Atoi(attempts); err != nil {
		return fanfare.Completion{}, fmt.Errorf("completion %q: attempts: %w", id, err)
	}
	if j.Since != nil {
		c.Since = *j.Since
	} else {
		us, err := strconv.ParseFloat(since, 64) // a sorted set's score
		if err != nil {
			return fanfare.Completion{}, fmt.Errorf("completion %q: since: %w", id, err)
		}
		c.Since = time.UnixMicro(int64(us))
	}
	return c, nil
}

// Done implements [fanfare.Outbox].
func (s *Store) Done(ctx context.Context, id string) error {
	return s.run(ctx, done, "done", s.outbox, id).Err()
}

// Retry implements [fanfare.Outbox]. A Retry that go-redis sends again
// after a lost reply finds the lease already ended and returns
// [fanfare.ErrHoldLost]; the completion was rescheduled once.
func (s *Store) Retry(ctx context.Context, id, owner string, delay time.Duration) error {
	r, err := s.run(ctx, retry, "retry", s.outbox[:keySince], id, owner, ms(delay)).Int()
	if err != nil {
		return err
	}
	if r != 1 {
		return fanfare.ErrHoldLost
	}
	return nil
}

// Stats implements [fanfare.Outbox].
func (s *Store) Stats(ctx context.Context) (fanfare.OutboxStats, error) {
	r, err := s.run(ctx, stats, "stats", s.outbox).Slice()
	if err != nil {
		return fanfare.OutboxStats{}, err
	}
	var st fanfare.OutboxStats
	n, ok := r[0].(int64)
	if !ok {
		return st, fmt.Errorf("redisstore: stats: unexpected reply %v", r)
	}
	st.Pending = int(n)
	if len(r) == 3 {
		doc, _ := r[1].(string)
		since, _ := r[2].(string)
		c, err := decodeCompletion("oldest", doc, "0", since)
		if err != nil {
			return st, fmt.Errorf("redisstore: stats: %w", err)
		}
		st.Oldest = c.Since
	}
	return st, nil
}
