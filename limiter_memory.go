package fanfare

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryLimiterOptions configures a [MemoryLimiter]. The zero value is the
// vendor guide's policy: 10 requests per minute per key.
type MemoryLimiterOptions struct {
	// Limit is the policy enforced for every key. Default: 10 requests per
	// 1 minute.
	Limit Limit

	// MaxKeys caps the number of keys held at once. A new key beyond the cap
	// is refused with ErrLimiterFull (RateLimitAuthorize answers 503) rather
	// than a live key being forgotten: an evicting cache would let an
	// attacker flood new keys to reset a victim's budget. Keys idle for a
	// whole window are reclaimed first. A key takes about
	// 8×(Limit.Requests+1)+40 bytes (about 130 under the default policy),
	// so the default cap bounds the limiter to about 130MB. Default: 1<<20.
	MaxKeys int

	// Clock returns the current time. It is read inside the per-key critical
	// section, so a decision never uses a stale time. Default: time.Now.
	Clock func() time.Time
}

// MemoryLimiter is an in-process [Limiter]: exact, sharded, bounded, with
// no allocation on the decision for a known key and no goroutine.
//
// For each key it keeps the times of the last Limit.Requests allowed
// requests, to the nanosecond (a sliding log in a ring), so it enforces the
// Limit exactly: never more than Requests in any rolling window, a request
// is refused only while Requests others fall within the window before it,
// and RetryAfter is exact.
//
// A key is held as its 64-bit hash (hash/maphash, with a seed of the
// limiter's own), not as a string: that saves the key's bytes and leaves
// the collector nothing to scan. Two keys whose hashes collide would share
// one budget — stricter for both, never looser — with odds of about 1 in
// 2^64 for a given pair, and the seed is unknown outside the process.
//
// Keys are spread over 256 shards, each a map under its own lock. Each
// shard is swept once per window (at most once a second) by the first
// decision after that time: keys whose requests have all left the window
// cannot affect a decision any more and are deleted, and a shard left
// mostly empty is copied into a smaller map. A shard that sees no traffic
// keeps its idle keys until it does, or until a new key at MaxKeys needs
// the room. There is no goroutine and nothing to close.
//
// A MemoryLimiter limits one process. Instances behind a load balancer each
// enforce the limit on their own; share state through a Redis limiter
// instead.
type MemoryLimiter struct {
	limit    Limit
	n        int   // limit.Requests
	window   int64 // limit.Window in nanoseconds
	perChunk int   // records per chunk
	sweepGap int64 // between sweeps of a shard: the window, at least 1s
	clock    func() time.Time
	epoch    time.Time
	seed     maphash.Seed
	maxKeys  int64
	keys     atomic.Int64
	// reclaimAt: no reclaim pass at MaxKeys before this time.
	reclaimAt atomic.Int64
	shards    [memShards]memShard
}

const memShards = 256

// memShard holds the keys whose hash falls on it. A key's record is n+1
// words: a header (head | count<<32), then a ring of n stamps, nanoseconds
// since the limiter's epoch, of the requests counted, oldest at head.
// Records sit in chunks of about 8KB, so a key costs no allocation of its
// own beyond its string, growth copies nothing, and the collector scans no
// pointers in them. Record id c<<8|i is record i of chunk c.
type memShard struct {
	mu      sync.Mutex
	index   map[uint64]uint32 // key's hash → record id
	chunks  [][]int64
	used    int      // records taken in the last chunk
	free    []uint32 // records of deleted keys, for reuse
	sweepAt int64    // the next sweep
	_       [64]byte
}

// chunkBytes is the size of a chunk of records: a size class of the Go
// allocator, so that little of it is wasted.
const chunkBytes = 8192

// NewMemoryLimiter returns a limiter holding its state in memory. It panics
// with a message starting "fanfare: " if opts.Limit is out of range or
// MaxKeys is negative: those come from code, not from the environment.
func NewMemoryLimiter(opts MemoryLimiterOptions) *MemoryLimiter {
	limit := opts.Limit.withDefaults()
	if opts.MaxKeys < 0 {
		panic("fanfare: MemoryLimiterOptions.MaxKeys is negative")
	}
	if opts.MaxKeys == 0 {
		opts.MaxKeys = 1 << 20
	}
	epoch := time.Now()
	if opts.Clock != nil {
		epoch = opts.Clock()
	}
	return &MemoryLimiter{
		limit:    limit,
		n:        limit.Requests,
		window:   int64(limit.Window),
		perChunk: min(max(chunkBytes/(8*(limit.Requests+1)), 1), 256),
		sweepGap: int64(max(limit.Window, time.Second)),
		clock:    opts.Clock,
		epoch:    epoch,
		seed:     maphash.MakeSeed(),
		maxKeys:  int64(opts.MaxKeys),
	}
}

// Limit returns the policy the limiter enforces.
func (l *MemoryLimiter) Limit() Limit { return l.limit }

// Len returns the number of keys the limiter holds, idle ones not yet
// reclaimed included.
func (l *MemoryLimiter) Len() int { return int(l.keys.Load()) }

// Allow decides for one request of key and records it if allowed. It fails
// only with ErrLimiterFull, for a new key while MaxKeys keys are held; ctx
// is not used.
func (l *MemoryLimiter) Allow(_ context.Context, key string) (Decision, error) {
	h := maphash.String(l.seed, key)
	sh := &l.shards[h%memShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := l.now()
	r, ok := sh.index[h]
	if !ok {
		var err error
		if r, err = l.insert(sh, h, now); err != nil {
			return Decision{}, err
		}
	}
	d := l.decide(l.record(sh.chunks, r), now)
	if now >= sh.sweepAt {
		l.sweep(sh, now) // the key just decided counts a request: it stays
	}
	return d, nil
}

// now returns the time in nanoseconds since the epoch. Without a Clock it
// reads the monotonic clock alone, half the cost of time.Now. A Clock more
// than 146 years off the epoch reads as 146 years, so that adding a window
// cannot overflow (its stamps stay put: stricter, never looser).
func (l *MemoryLimiter) now() int64 {
	if l.clock == nil {
		return int64(time.Since(l.epoch))
	}
	return min(max(int64(l.clock().Sub(l.epoch)), -1<<62), 1<<62)
}

// record returns record id of chunks.
func (l *MemoryLimiter) record(chunks [][]int64, id uint32) []int64 {
	at := int(id&0xff) * (l.n + 1)
	return chunks[id>>8][at : at+l.n+1 : at+l.n+1]
}

// alloc returns an unused record.
func (l *MemoryLimiter) alloc(sh *memShard) uint32 {
	if k := len(sh.free); k > 0 {
		id := sh.free[k-1]
		sh.free = sh.free[:k-1]
		return id
	}
	if len(sh.chunks) == 0 || sh.used == l.perChunk {
		sh.chunks = append(sh.chunks, make([]int64, l.perChunk*(l.n+1)))
		sh.used = 0
	}
	sh.used++
	return uint32(len(sh.chunks)-1)<<8 | uint32(sh.used-1)
}

// decide applies the sliding log to one record. A stamp s counts while
// now < s+window.
func (l *MemoryLimiter) decide(rec []int64, now int64) Decision {
	head, count := l.expire(rec, now)
	d := Decision{Limit: l.n}
	if count < l.n {
		// A stamp never precedes the one before it, even if the clock
		// stepped back: the ring stays ordered and the request is counted
		// for at least a window.
		stamp := now
		if count > 0 {
			stamp = max(stamp, rec[1+l.ring(head+count-1)])
		}
		rec[1+l.ring(head+count)] = stamp
		count++
		d.Allowed = true
		d.Remaining = l.n - count
	}
	rec[0] = int64(head) | int64(count)<<32
	d.ResetAfter = time.Duration(max(rec[1+head]+l.window-now, 1))
	if !d.Allowed {
		d.RetryAfter = d.ResetAfter
	}
	return d
}

// expire returns the head and count of the record's ring without the
// stamps that left the window at now.
func (l *MemoryLimiter) expire(rec []int64, now int64) (head, count int) {
	head, count = int(uint32(rec[0])), int(rec[0]>>32)
	for count > 0 && now-rec[1+head] >= l.window {
		head = l.ring(head + 1)
		count--
	}
	return head, count
}

// ring maps a position past the ring's end back to its start.
func (l *MemoryLimiter) ring(i int) int {
	if i >= l.n {
		i -= l.n
	}
	return i
}

// insert gives the key hashed to h a fresh record, or fails with
// ErrLimiterFull.
func (l *MemoryLimiter) insert(sh *memShard, h uint64, now int64) (uint32, error) {
	if l.keys.Add(1) > l.maxKeys {
		l.keys.Add(-1)
		if !l.reclaim(sh, now) {
			return 0, ErrLimiterFull
		}
		if l.keys.Add(1) > l.maxKeys {
			l.keys.Add(-1)
			return 0, ErrLimiterFull
		}
	}
	r := l.alloc(sh)
	l.record(sh.chunks, r)[0] = 0 // head 0, count 0: the old stamps mean nothing
	if sh.index == nil {
		sh.index = make(map[uint64]uint32)
		sh.sweepAt = now + l.sweepGap
	}
	sh.index[h] = r
	return r, nil
}

// sweep deletes the shard's idle keys and schedules the next sweep. It
// returns how many keys it deleted and the earliest time another may go
// idle.
func (l *MemoryLimiter) sweep(sh *memShard, now int64) (deleted int, nextIdle int64) {
	nextIdle = now + l.window
	for key, r := range sh.index {
		// A key is idle once its newest stamp left the window.
		rec := l.record(sh.chunks, r)
		head, count := int(uint32(rec[0])), int(rec[0]>>32)
		idleAt := rec[1+l.ring(head+count-1)] + l.window
		if count == 0 || now >= idleAt {
			delete(sh.index, key)
			sh.free = append(sh.free, r)
			deleted++
			continue
		}
		nextIdle = min(nextIdle, idleAt)
	}
	l.keys.Add(int64(-deleted))
	sh.sweepAt = now + l.sweepGap
	// Go maps do not shrink: let go of a shard's storage once most of it
	// is unused, so memory taken by a burst of keys goes back.
	switch records := len(sh.chunks) * l.perChunk; {
	case len(sh.index) == 0:
		sh.index, sh.chunks, sh.free = nil, nil, nil
	case records >= 4*max(len(sh.index), l.perChunk):
		index, chunks := sh.index, sh.chunks
		sh.index, sh.chunks, sh.free = make(map[uint64]uint32, len(index)), nil, nil
		for key, r := range index {
			id := l.alloc(sh)
			copy(l.record(sh.chunks, id), l.record(chunks, r))
			sh.index[key] = id
		}
	}
	return deleted, nextIdle
}

// reclaim makes room for a new key at MaxKeys by sweeping every shard: own
// (locked by the caller) and the others whose lock is free (waiting for one
// while holding own could deadlock). It runs once a key may have gone idle,
// and at most 64 times a window, so a flood of new keys at the cap costs a
// bounded number of passes. It reports whether it deleted anything.
func (l *MemoryLimiter) reclaim(own *memShard, now int64) bool {
	at := l.reclaimAt.Load()
	pause := now + l.window/64
	if now < at || !l.reclaimAt.CompareAndSwap(at, pause) {
		return false
	}
	deleted, next := 0, now+l.window
	for i := range l.shards {
		sh := &l.shards[i]
		if sh != own && !sh.mu.TryLock() {
			next = now // not looked at: may hold idle keys already
			continue
		}
		d, idle := l.sweep(sh, now)
		deleted += d
		next = min(next, idle)
		if sh != own {
			sh.mu.Unlock()
		}
	}
	// A key inserted from now on goes idle no sooner than a window from
	// now, after every key counted in next: next stays a lower bound.
	l.reclaimAt.Store(max(next, pause))
	return deleted > 0
}
