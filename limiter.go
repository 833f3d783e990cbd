package fanfare

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Limit is a rate limit policy: at most Requests requests for one key in any
// rolling window of length Window, literally (a fixed window or a token
// bucket would let close to twice as many through around a boundary).
type Limit struct {
	// Requests is the number of requests allowed per window, between 1 and
	// 65535. Default: 10.
	Requests int
	// Window is the length of the rolling window, up to 24 days.
	// Default: 1 minute.
	Window time.Duration
}

// withDefaults fills in the guide's 10 a minute; it panics out of range.
func (l Limit) withDefaults() Limit {
	l.Requests = cmp.Or(l.Requests, 10)
	l.Window = cmp.Or(l.Window, time.Minute)
	if l.Requests < 1 || l.Requests > 1<<16-1 {
		panic(fmt.Sprintf("fanfare: Limit.Requests is %d, want 1 to 65535", l.Requests))
	}
	if l.Window < 0 || l.Window > 24*24*time.Hour {
		panic(fmt.Sprintf("fanfare: Limit.Window is %v, want more than 0 and at most %v", l.Window, 24*24*time.Hour))
	}
	return l
}

// Decision is a limiter's answer for one request.
type Decision struct {
	// Allowed reports whether the request may proceed. An allowed request
	// has been counted; a denied one has not.
	Allowed bool
	// Limit is the policy's Requests.
	Limit int
	// Remaining is how many more requests the key may make right now.
	Remaining int
	// RetryAfter is zero when Allowed; otherwise the time until a request
	// for this key would be allowed.
	RetryAfter time.Duration
	// ResetAfter is the time until the oldest request counted leaves the
	// window, so that Remaining grows; zero when none is counted. When a
	// request is denied it equals RetryAfter.
	ResetAfter time.Duration
}

// Limiter decides whether a request for key may proceed under its Limit.
//
// Allow is one atomic step (read the key's state, decide, record the
// request if allowed), so that concurrent calls for one key never admit
// more than the limit and a shared store (Redis) does it in one round trip.
// The time comes from the limiter's own clock. Implementations must be safe
// for concurrent use and pass the conformance suite in package limitertest.
type Limiter interface {
	// Allow decides for one request of key and records it if allowed. Keys
	// are opaque. An error means no decision: the caller fails closed
	// unless told otherwise.
	Allow(ctx context.Context, key string) (Decision, error)
	// Limit returns the policy the limiter enforces.
	Limit() Limit
}

// MemoryLimiterOptions configures [NewMemoryLimiter].
type MemoryLimiterOptions struct {
	// Limit is the policy enforced for every key. Default: 10 requests per
	// 1 minute.
	Limit Limit
	// MaxKeys caps the keys held at once. Beyond it a new key is refused
	// with ErrTooManyKeys rather than a live key forgotten (an evicting
	// cache would let an attacker flood new keys to reset a victim's
	// budget); keys idle for a whole window are reclaimed first. A key takes
	// about 8×(Limit.Requests+1)+40 bytes. Default: 1<<20.
	MaxKeys int
	// Clock returns the current time, read inside the key's critical
	// section. Default: time.Now.
	Clock func() time.Time
}

// NewMemoryLimiter returns an in-process [Limiter], exact to the nanosecond,
// with no goroutine and nothing to close. It limits one process: instances
// behind a load balancer each enforce the limit; share a Redis limiter
// instead.
//
// A key is held as its 64-bit hash (hash/maphash, with a seed of the
// limiter's own). Two keys whose hashes collide would share one budget,
// stricter for both, with odds of about 1 in 2^64 for a given pair.
//
// It panics with a message starting "fanfare: " if opts.Limit is out of
// range or MaxKeys is negative.
func NewMemoryLimiter(opts MemoryLimiterOptions) Limiter {
	limit := opts.Limit.withDefaults()
	if opts.MaxKeys < 0 {
		panic("fanfare: MemoryLimiterOptions.MaxKeys is negative")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &memoryLimiter{
		limit:   limit,
		window:  int64(limit.Window),
		clock:   opts.Clock,
		epoch:   opts.Clock(),
		seed:    maphash.MakeSeed(),
		maxKeys: int64(cmp.Or(opts.MaxKeys, 1<<20)),
	}
}

type memoryLimiter struct {
	limit     Limit
	window    int64 // nanoseconds
	clock     func() time.Time
	epoch     time.Time // stamps are nanoseconds since
	seed      maphash.Seed
	maxKeys   int64
	keys      atomic.Int64
	reclaimAt atomic.Int64 // no reclaim pass at MaxKeys before this time
	shards    [256]memShard
}

// memShard holds the keys whose hash falls on it. A key's log is n+1 words
// of logs: a header (head | count<<32), then a ring of the n stamps of the
// requests counted, oldest at head. One slice for all keys keeps a key's
// cost to its words and leaves the collector no pointer per key to follow.
type memShard struct {
	mu      sync.Mutex
	index   map[uint64]int // key's hash → offset of its log in logs
	logs    []int64
	free    []int // offsets of deleted keys' logs, for reuse
	sweepAt int64
	_       [64]byte // keeps shards on separate cache lines
}

func (l *memoryLimiter) Limit() Limit { return l.limit }

func (l *memoryLimiter) Allow(_ context.Context, key string) (Decision, error) {
	h := maphash.String(l.seed, key)
	sh := &l.shards[h%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// A Clock more than 146 years off the epoch reads as 146 years, so that
	// adding a window cannot overflow (stricter, never looser).
	now := min(max(int64(l.clock().Sub(l.epoch)), -1<<62), 1<<62)
	off, ok := sh.index[h]
	if !ok {
		if l.keys.Add(1) > l.maxKeys && !l.reclaim(sh, now) {
			l.keys.Add(-1)
			return Decision{}, ErrTooManyKeys
		}
		if sh.index == nil {
			sh.index = make(map[uint64]int)
			sh.sweepAt = now + max(l.window, int64(time.Second))
		}
		if k := len(sh.free); k > 0 {
			off, sh.free = sh.free[k-1], sh.free[:k-1]
		} else {
			off = len(sh.logs)
			sh.logs = slices.Grow(sh.logs, 1+l.limit.Requests)[:off+1+l.limit.Requests]
		}
		sh.logs[off] = 0 // head 0, count 0: old stamps mean nothing
		sh.index[h] = off
	}
	log := l.log(sh.logs, off)
	d := l.decide(log, now)
	if now >= sh.sweepAt {
		l.sweep(sh, now) // the key just decided counts a request: it stays
	}
	return d, nil
}

// decide applies the sliding log to one key's log: a stamp s counts while
// now < s+window.
func (l *memoryLimiter) decide(log []int64, now int64) Decision {
	n := l.limit.Requests
	ring := log[1:]
	head, count := int(uint32(log[0])), int(log[0]>>32)
	for count > 0 && now-ring[head] >= l.window {
		head = (head + 1) % n
		count--
	}
	d := Decision{Limit: n}
	if count < n {
		// A stamp never precedes the one before it, even if the clock
		// stepped back: the ring stays ordered and the request is counted
		// for at least a window.
		stamp := now
		if count > 0 {
			stamp = max(stamp, ring[(head+count-1)%n])
		}
		ring[(head+count)%n] = stamp
		count++
		d.Allowed = true
		d.Remaining = n - count
	}
	log[0] = int64(head) | int64(count)<<32
	d.ResetAfter = time.Duration(max(ring[head]+l.window-now, 1))
	if !d.Allowed {
		d.RetryAfter = d.ResetAfter
	}
	return d
}

func (l *memoryLimiter) log(logs []int64, off int) []int64 {
	return logs[off : off+1+l.limit.Requests : off+1+l.limit.Requests]
}

// sweep deletes the shard's idle keys and schedules the next sweep. It
// returns the earliest time another key may go idle.
func (l *memoryLimiter) sweep(sh *memShard, now int64) (nextIdle int64) {
	n := l.limit.Requests
	deleted := 0
	nextIdle = now + l.window
	for h, off := range sh.index {
		// A key is idle once its newest stamp left the window.
		log := l.log(sh.logs, off)
		head, count := int(uint32(log[0])), int(log[0]>>32)
		idleAt := log[1+(head+count-1+n)%n] + l.window
		if count == 0 || now >= idleAt {
			delete(sh.index, h)
			sh.free = append(sh.free, off)
			deleted++
			continue
		}
		nextIdle = min(nextIdle, idleAt)
	}
	l.keys.Add(int64(-deleted))
	sh.sweepAt = now + max(l.window, int64(time.Second))
	// Maps and slices do not shrink: once most of a shard is unused, copy
	// its live keys, so that the memory of a burst of keys goes back.
	switch held := len(sh.logs) / (n + 1); {
	case len(sh.index) == 0:
		sh.index, sh.logs, sh.free = nil, nil, nil
	case held >= 4*max(len(sh.index), 64):
		index, logs := sh.index, sh.logs
		sh.index = make(map[uint64]int, len(index))
		sh.logs = make([]int64, 0, len(index)*(n+1))
		sh.free = nil
		for h, off := range index {
			sh.index[h] = len(sh.logs)
			sh.logs = append(sh.logs, l.log(logs, off)...)
		}
	}
	return nextIdle
}

// reclaim makes room for a new key at MaxKeys by sweeping own shard (locked
// by the caller) and every other whose lock is free (waiting while holding
// own could deadlock). It runs once a key may have gone idle, at most 64
// times a window, so a flood of new keys at the cap costs a bounded number
// of passes. It reports whether the new key, already counted, fits.
func (l *memoryLimiter) reclaim(own *memShard, now int64) bool {
	at := l.reclaimAt.Load()
	pause := now + l.window/64
	if now < at || !l.reclaimAt.CompareAndSwap(at, pause) {
		return false
	}
	next := now + l.window
	for i := range l.shards {
		sh := &l.shards[i]
		if sh != own && !sh.mu.TryLock() {
			next = now // not looked at: may hold idle keys already
			continue
		}
		next = min(next, l.sweep(sh, now))
		if sh != own {
			sh.mu.Unlock()
		}
	}
	// A key inserted from now on goes idle no sooner than a window from
	// now, after every key counted in next: next stays a lower bound.
	l.reclaimAt.Store(max(next, pause))
	return l.keys.Load() <= l.maxKeys
}
