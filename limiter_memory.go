package fanfare

import (
	"context"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
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
	// 76 + 4×Limit.Requests bytes (116 under the default policy; keys longer
	// than 44 bytes take their length more), so the default cap bounds the
	// limiter to about 120MB. Default: 1<<20.
	MaxKeys int

	// Clock returns the current time. It is read inside the per-key critical
	// section, so a decision never uses a stale time. Default: time.Now.
	Clock func() time.Time
}

// MemoryLimiter is an in-process [Limiter]: exact, sharded, bounded, and
// free of allocations and goroutines on the decision path.
//
// For each key it keeps the times of the last Limit.Requests allowed
// requests (a sliding log in a ring of 32-bit stamps), so it enforces the
// Limit exactly: never more than Requests in any rolling window, and a
// request is refused only while Requests others fall within the window
// before it. A stamp counts ticks of 1ns for windows up to 2s, 100ns up to
// 3.5 minutes (the default minute), 1ms up to 24 days; it is rounded up, so
// a request may be held back up to a tick longer than the exact time would
// say, never admitted earlier. Limit().Window is rounded up to a tick.
//
// Keys are spread over 256 shards, each with its own lock, so parallel
// requests for different keys rarely wait on each other. A key whose
// requests have all left the window cannot affect a decision any more and is
// reclaimed: each new key, and every 8th decision, checks more records of its
// shard, and a shard with no live key releases its memory. There is no
// background goroutine and nothing to close.
//
// A MemoryLimiter limits one process. Instances behind a load balancer each
// enforce the limit on their own; share state through a Redis limiter
// instead.
type MemoryLimiter struct {
	limit   Limit
	n       uint32 // limit.Requests
	tick    int64  // nanoseconds per stamp unit
	windowT int64  // the window in ticks
	stride  int    // words per record: recStamps, then n stamps
	clock   func() time.Time
	epoch   time.Time
	seed    maphash.Seed
	maxKeys int64
	keys    atomic.Int64
	// reclaimAt: no key goes idle before this (ticks since epoch).
	reclaimAt atomic.Int64
	shards    [memShards]memShard
}

const (
	memShards = 256
	// Records checked for idleness per new key, and per sweepEvery decisions:
	// enough to keep the idle fraction of a shard bounded while new keys
	// arrive, and to reclaim an idle key as the shard's traffic goes on,
	// without a cache miss on another record in most decisions.
	sweepPerInsert = 4
	sweepEvery     = 8
	// freeRecord marks the header of a free record. A live header packs
	// head (< n ≤ 65535) and count (≤ n) into 16 bits each, so it is never
	// all ones.
	freeRecord = ^uint32(0)
	// maxStamp is the largest stamp a record holds; a shard whose clock
	// offset outgrows it rebases (see rebase).
	maxStamp = math.MaxUint32

	// The words of a record before its stamps.
	recHeader = 0 // head | count<<16, or freeRecord
	recTag    = 1 // the key's tag (its index slot); on a free record, the next free one
	recKeyLen = 2 // the key's length in bytes
	recKey    = 3 // the key's bytes, when it fits in inlineKey
	recStamps = recKey + inlineKey/4
	// inlineKey holds "ip:" and any IPv6 address, or "id:" and a UUID; a
	// longer key lives in the shard's long map.
	inlineKey = 44
)

// memShard holds the keys whose hash falls on it. Record r is
// log[r*stride:(r+1)*stride]: the header, tag and key (see recHeader...),
// then a ring of n stamps, ticks since base, of the requests counted, oldest
// at head. The key sits beside its stamps and index holds plain numbers, so
// a decision touches two or three cache lines and the collector scans
// nothing.
//
// index is an open-addressing table (linear probing, backward-shift
// deletion, at most 3/4 full) of tag<<32 | record+1, 0 for empty; a key's
// tag is the high half of its hash, and its home slot the tag's low bits.
type memShard struct {
	mu        sync.Mutex
	index     []uint64
	log       []uint32
	long      map[uint32]string // record → key, for keys longer than inlineKey
	live      int
	freeHead  uint32
	cursor    int    // the next record the incremental sweep checks
	decisions uint32 // counts to sweepEvery
	base      int64  // ticks since the limiter's epoch of stamp 0
	staleAt   int64  // no record goes idle before this (ticks since epoch)
	_         [64]byte
}

// NewMemoryLimiter returns a limiter holding its state in memory. It panics
// with a message starting "fanfare: " if opts.Limit is out of range or
// MaxKeys is negative: those come from code, not from the environment.
func NewMemoryLimiter(opts MemoryLimiterOptions) *MemoryLimiter {
	limit := opts.Limit.withDefaults()
	tick := tickFor(limit.Window)
	if rem := int64(limit.Window) % tick; rem != 0 {
		limit.Window += time.Duration(tick - rem)
	}
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
	l := &MemoryLimiter{
		limit:   limit,
		n:       uint32(limit.Requests),
		tick:    tick,
		windowT: int64(limit.Window) / tick,
		stride:  recStamps + limit.Requests,
		clock:   opts.Clock,
		epoch:   epoch,
		seed:    maphash.MakeSeed(),
		maxKeys: int64(opts.MaxKeys),
	}
	for i := range l.shards {
		l.shards[i].freeHead = freeRecord
	}
	return l
}

// tickFor returns the unit of a limiter's stamps: the finest power of ten
// nanoseconds in which a window takes at most 2^31 ticks, so that 32-bit
// stamps last at least a window between rebases — 1ns for windows up to 2s,
// 100ns up to 3.5 minutes, 1ms up to 24 days.
func tickFor(window time.Duration) int64 {
	tick := int64(1)
	for int64(window)/tick > 1<<31 {
		tick *= 10
	}
	return tick
}

// Limit returns the policy the limiter enforces.
func (l *MemoryLimiter) Limit() Limit { return l.limit }

// Len returns the number of keys the limiter holds, idle ones not yet
// reclaimed included.
func (l *MemoryLimiter) Len() int { return int(l.keys.Load()) }

// Allow decides for one request of key and records it if allowed. It fails
// only with ErrLimiterFull, for a new key while MaxKeys keys are live; ctx is
// not used.
func (l *MemoryLimiter) Allow(_ context.Context, key string) (Decision, error) {
	h := maphash.String(l.seed, key)
	sh := &l.shards[h%memShards]
	sh.mu.Lock()
	var now time.Duration
	if l.clock == nil {
		now = time.Since(l.epoch) // the monotonic clock alone: half the cost of time.Now
	} else {
		now = l.clock().Sub(l.epoch)
	}
	d, err := sh.allow(l, key, uint32(h>>32), int64(now))
	sh.mu.Unlock()
	return d, err
}

// allow is Allow under the shard's lock; now is nanoseconds since the epoch.
func (sh *memShard) allow(l *MemoryLimiter, key string, tag uint32, now int64) (Decision, error) {
	floorT, ceilT := now, now
	if l.tick != 1 {
		floorT = now / l.tick
		if now%l.tick < 0 {
			floorT--
		}
		if ceilT = floorT; floorT*l.tick != now {
			ceilT++
		}
	}
	if ceilT-sh.base > maxStamp {
		sh.rebase(l, floorT)
	}
	sweep := 0
	if sh.decisions++; sh.decisions%sweepEvery == 0 {
		sweep = 1
	}
	r, ok := sh.lookup(l, key, tag)
	if !ok {
		var err error
		if r, err = sh.insert(l, key, tag, floorT); err != nil {
			return Decision{}, err
		}
		sweep += sweepPerInsert
	}
	at := int(r) * l.stride
	d := l.decide(sh.log[at:at+l.stride:at+l.stride], floorT-sh.base, ceilT-sh.base)
	sh.sweep(l, floorT, sweep)
	return d, nil
}

// decide applies the sliding log to one record. off is the decision time in
// ticks since the shard's base, rounded down (offCeil: up). A stamp s counts
// while off < s+window, so a request stamped (rounded up) at s is counted for
// at least a whole window.
func (l *MemoryLimiter) decide(rec []uint32, off, offCeil int64) Decision {
	head, count := l.popExpired(rec, off)
	d := Decision{Limit: int(l.n)}
	if count < l.n {
		// A stamp never precedes the one before it, even if the clock
		// stepped back: the ring stays ordered and the request is counted
		// for at least a window.
		stamp := uint32(max(offCeil, 0))
		if count > 0 {
			stamp = max(stamp, rec[recStamps+l.ring(head+count-1)])
		}
		rec[recStamps+l.ring(head+count)] = stamp
		count++
		d.Allowed = true
		d.Remaining = int(l.n - count)
	}
	rec[0] = head | count<<16
	// Durations count from now rounded up to a tick, so that a request's
	// own stamp, rounded up too, reads a whole window, not a window and a
	// sliver (which Retry-After would round up to a second more). The oldest
	// stamp is counted, so its end is past off: at least a tick away.
	reset := time.Duration(max(int64(rec[recStamps+head])+l.windowT-offCeil, 1) * l.tick)
	d.ResetAfter = reset
	if !d.Allowed {
		d.RetryAfter = reset
	}
	return d
}

// popExpired drops the stamps that left the window at off and returns the
// record's head and count.
func (l *MemoryLimiter) popExpired(rec []uint32, off int64) (head, count uint32) {
	head, count = rec[0]&0xffff, rec[0]>>16
	for count > 0 && off-int64(rec[recStamps+head]) >= l.windowT {
		head = l.ring(head + 1)
		count--
	}
	return head, count
}

// ring maps a position past the ring's end back to its start.
func (l *MemoryLimiter) ring(i uint32) uint32 {
	if i >= l.n {
		i -= l.n
	}
	return i
}

// insert gives key a fresh record, or fails with ErrLimiterFull.
func (sh *memShard) insert(l *MemoryLimiter, key string, tag uint32, floorT int64) (uint32, error) {
	if l.keys.Add(1) > l.maxKeys {
		l.keys.Add(-1)
		if !l.reclaim(sh, floorT) {
			return 0, ErrLimiterFull
		}
		if l.keys.Add(1) > l.maxKeys {
			l.keys.Add(-1)
			return 0, ErrLimiterFull
		}
	}
	var r uint32
	if sh.freeHead != freeRecord {
		r = sh.freeHead
		sh.freeHead = sh.log[int(r)*l.stride+recTag]
	} else {
		r = uint32(sh.records(l))
		sh.log = append(sh.log, make([]uint32, l.stride)...)
	}
	at := int(r) * l.stride
	rec := sh.log[at : at+l.stride : at+l.stride]
	rec[recHeader], rec[recTag], rec[recKeyLen] = 0, tag, uint32(len(key))
	if len(key) <= inlineKey {
		copy(wordBytes(rec[recKey:recStamps]), key)
	} else {
		if sh.long == nil {
			sh.long = make(map[uint32]string)
		}
		sh.long[r] = strings.Clone(key) // the caller's string may live in a reused buffer
	}
	sh.indexAdd(tag, r)
	sh.live++
	sh.staleAt = min(sh.staleAt, floorT+l.windowT)
	return r, nil
}

// reclaim makes room for a new key at the cap by evicting idle keys from
// every shard, own (locked by the caller) and others (those whose lock is
// free: waiting for one while holding own could deadlock). Only idle keys
// go, and only once one can be idle: reclaimAt and each shard's staleAt are
// lower bounds on that, so a flood of live keys costs one pass per window,
// not one per refused request. It reports whether anything was evicted.
func (l *MemoryLimiter) reclaim(own *memShard, floorT int64) bool {
	if floorT < l.reclaimAt.Load() {
		return false
	}
	evicted := false
	next := int64(math.MaxInt64)
	for i := range l.shards {
		sh := &l.shards[i]
		if sh != own && !sh.mu.TryLock() {
			next = floorT // not looked at: may be idle already
			continue
		}
		if floorT >= sh.staleAt && sh.sweepAll(l, floorT, 0) {
			evicted = true
		}
		next = min(next, sh.staleAt)
		if sh != own {
			sh.mu.Unlock()
		}
	}
	// A key inserted later goes idle no sooner than a window from now,
	// after every key counted in next: next stays a lower bound.
	l.reclaimAt.Store(next)
	return evicted
}

// records returns the number of records, free ones included.
func (sh *memShard) records(l *MemoryLimiter) int { return len(sh.log) / l.stride }

// lookup returns key's record.
func (sh *memShard) lookup(l *MemoryLimiter, key string, tag uint32) (uint32, bool) {
	if sh.index == nil {
		return 0, false
	}
	mask := uint32(len(sh.index) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		e := sh.index[i]
		if e == 0 {
			return 0, false
		}
		if uint32(e>>32) != tag {
			continue
		}
		r := uint32(e) - 1
		at := int(r) * l.stride
		if n := int(sh.log[at+recKeyLen]); n != len(key) {
			continue
		} else if n > inlineKey {
			if sh.long[r] == key {
				return r, true
			}
		} else if string(wordBytes(sh.log[at+recKey : at+recStamps])[:n]) == key {
			return r, true
		}
	}
}

// wordBytes views words as bytes, for the keys stored inline in records.
func wordBytes(w []uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), 4*len(w))
}

// indexAdd adds record r under tag, growing the table past 3/4 full.
func (sh *memShard) indexAdd(tag, r uint32) {
	if 4*(sh.live+1) > 3*len(sh.index) {
		old := sh.index
		sh.index = make([]uint64, max(16, 2*len(old)))
		for _, e := range old {
			if e != 0 {
				sh.indexPut(e)
			}
		}
	}
	sh.indexPut(uint64(tag)<<32 | uint64(r+1))
}

func (sh *memShard) indexPut(e uint64) {
	mask := uint32(len(sh.index) - 1)
	i := uint32(e>>32) & mask
	for sh.index[i] != 0 {
		i = (i + 1) & mask
	}
	sh.index[i] = e
}

// indexDelete removes record r, shifting back the entries after it that
// may move closer to their home slot, so probes need no tombstones.
func (sh *memShard) indexDelete(tag, r uint32) {
	mask := uint32(len(sh.index) - 1)
	want := uint64(tag)<<32 | uint64(r+1)
	i := tag & mask
	for sh.index[i] != want {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; sh.index[j] != 0; j = (j + 1) & mask {
		e := sh.index[j]
		home := uint32(e>>32) & mask
		// e may fill the hole at i unless its home lies in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			sh.index[i] = e
			i = j
		}
	}
	sh.index[i] = 0
}

// sweep checks k records from the cursor on and evicts the idle ones.
func (sh *memShard) sweep(l *MemoryLimiter, floorT int64, k int) {
	for ; k > 0 && len(sh.log) > 0; k-- {
		if sh.cursor >= sh.records(l) {
			sh.cursor = 0
		}
		r := sh.cursor
		sh.cursor++
		at := r * l.stride
		rec := sh.log[at : at+l.stride : at+l.stride]
		if rec[0] == freeRecord {
			continue
		}
		if _, count := l.popExpired(rec, floorT-sh.base); count == 0 {
			sh.evict(l, r)
		}
	}
}

// sweepAll evicts every idle record, moves the shard's base forward by
// shift ticks, and recomputes staleAt. It reports whether it evicted
// anything.
func (sh *memShard) sweepAll(l *MemoryLimiter, floorT, shift int64) bool {
	evicted := false
	staleAt := int64(math.MaxInt64)
	for r := 0; r < sh.records(l); r++ {
		at := r * l.stride
		rec := sh.log[at : at+l.stride : at+l.stride]
		if rec[0] == freeRecord {
			continue
		}
		head, count := l.popExpired(rec, floorT-sh.base)
		rec[0] = head | count<<16
		if count == 0 {
			sh.evict(l, r)
			evicted = true
			continue
		}
		if shift > 0 {
			// Every stamp still counted is within a window of floorT,
			// hence above shift (see rebase).
			for i := uint32(0); i < count; i++ {
				rec[recStamps+l.ring(head+i)] -= uint32(shift)
			}
		}
		newest := int64(rec[recStamps+l.ring(head+count-1)])
		staleAt = min(staleAt, sh.base+shift+newest+l.windowT)
	}
	sh.base += shift
	sh.staleAt = staleAt
	return evicted
}

// rebase keeps stamps within 32 bits: when the clock has run 2^32 ticks past
// the shard's base, the base moves to one window before now. Stamps older
// than that have left the window (their keys go), the others shift down.
// A window is at most 2^31 ticks, so it runs at most once per 2^31 ticks
// (2s to 24 days, by the tick) per shard, and reclaims idle keys as it goes.
func (sh *memShard) rebase(l *MemoryLimiter, floorT int64) {
	sh.sweepAll(l, floorT, floorT-l.windowT-sh.base)
}

// evict frees record r. When the shard holds no key any more it lets go of
// its storage, so memory taken by a burst of keys goes back once they idle.
func (sh *memShard) evict(l *MemoryLimiter, r int) {
	at := r * l.stride
	sh.indexDelete(sh.log[at+recTag], uint32(r))
	if sh.log[at+recKeyLen] > inlineKey {
		delete(sh.long, uint32(r))
	}
	sh.log[at+recHeader] = freeRecord
	sh.log[at+recTag] = sh.freeHead
	sh.freeHead = uint32(r)
	sh.live--
	l.keys.Add(-1)
	if sh.live == 0 {
		sh.index, sh.log, sh.long = nil, nil, nil
		sh.freeHead, sh.cursor = freeRecord, 0
	}
}
