package fanfare

import (
	"cmp"
	"context"
	"errors"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"
)

// Store keeps the single-use state of admissions and the completions owed
// to Fanfare. [RequireAdmission] takes a hold (a lease owned by one request)
// before the handler runs, renews it while the handler runs, and after a
// successful checkout marks the admission used and records its completion in
// one atomic step; otherwise it releases the hold. A [CompletionWorker]
// delivers the recorded completions from the store's [Outbox].
//
// Every method is one atomic operation, so a networked store (Redis) does each
// in one round trip. Keys are opaque, at most a few hundred bytes; owners are
// unique per request. One store serves one Fanfare organization.
// Implementations must be safe for concurrent use. Run the conformance suite
// in package storetest against any implementation.
type Store interface {
	// Acquire holds key for owner for ttl if key is neither held nor used,
	// and returns nil. Otherwise it changes nothing and returns an error
	// matching, with errors.Is, [ErrAdmissionInUse] (another owner holds
	// key) or [ErrAdmissionUsed] (key is marked used): implementations
	// return these sentinels, possibly wrapped. Any other error is a store
	// failure, which RequireAdmission answers with 503. Acquire by the
	// owner already holding key returns nil and changes nothing: owners are
	// unique per request, so that is the same call again — a networked
	// store's client retrying a call whose answer was lost — and it must
	// not refuse the hold it just took.
	Acquire(ctx context.Context, key, owner string, ttl time.Duration) error
	// Renew extends owner's hold on key to ttl from now. It returns
	// [ErrHoldLost], changing nothing, when owner no longer holds key: the
	// hold expired, was released, or another owner holds it now.
	Renew(ctx context.Context, key, owner string, ttl time.Duration) error
	// Release frees key if owner holds it. A key held by another owner, a
	// key marked used and an absent key are left as they are.
	Release(ctx context.Context, key, owner string) error
	// MarkUsed marks key used for ttl, whoever holds it, and, when c is not
	// nil, records c in the store's outbox, due at once — both in one atomic
	// step, so a used admission never lacks its completion. A key already
	// marked used keeps the later of its two expiry times; a completion
	// whose ID is already pending is kept as it is.
	MarkUsed(ctx context.Context, key string, ttl time.Duration, c *Completion) error
	// IsUsed reports whether key is marked used and the mark has not
	// expired. It changes nothing. RequireAdmission asks only when it is
	// about to refuse an admission, to tell a replay of a used admission
	// (409 ADMISSION_USED) from an invalid one.
	IsUsed(ctx context.Context, key string) (bool, error)

	Outbox
}

// ErrHoldLost is returned by [Store.Renew] when the caller no longer holds
// the key. RequireAdmission then cancels the request's context: another
// request may hold the admission now, so this one must not place an order.
var ErrHoldLost = errors.New("fanfare: admission hold lost")

// ErrStoreFull is returned by the store of [NewMemoryStore] when it holds
// MaxKeys live keys. RequireAdmission answers 503: it fails closed rather
// than forget a hold.
var ErrStoreFull = errors.New("fanfare: admission store is full")

// MemoryStoreOptions configures [NewMemoryStore].
type MemoryStoreOptions struct {
	// Clock tells the time that holds and used marks expire by.
	// Default: time.Now.
	Clock func() time.Time
	// MaxKeys bounds the number of live keys; Acquire and MarkUsed
	// return ErrStoreFull beyond it. Each key costs about 150 bytes.
	// Default: 1 << 20.
	MaxKeys int
}

// memoryStore is the Store of NewMemoryStore. Expired keys are reclaimed as
// the store is used, without a background goroutine: a shard sweeps itself
// when it has doubled since its last sweep.
type memoryStore struct {
	clock      func() time.Time
	maxPerShrd int
	seed       maphash.Seed
	shards     [memoryShards]memoryShard
	outbox     memoryOutbox
}

const memoryShards = 64

type memoryShard struct {
	mu        sync.Mutex
	m         map[string]memoryEntry
	nextSweep int
	peak      int      // largest size since the map was last rebuilt
	_         [32]byte // keep shards on separate cache lines
}

type memoryEntry struct {
	owner   string // empty when used
	expires int64  // unix nanoseconds
}

const minSweep = 256

// NewMemoryStore returns an empty in-memory [Store], with its [Outbox]: the
// default of RequireAdmission, for a single instance. It lives in the
// process: its holds, used marks and pending completions are lost when the
// process exits. Several instances behind a load balancer must share a store
// (the redisstore module's, on Redis; storetest.Run checks any
// implementation), or each instance admits the same admission once.
//
// It holds at most MaxKeys live keys (holds and used marks) and MaxKeys
// pending completions; beyond them Acquire and MarkUsed return
// [ErrStoreFull]. Expired keys are reclaimed as the store is used, without a
// background goroutine.
func NewMemoryStore(opts MemoryStoreOptions) Store {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 20
	}
	s := &memoryStore{
		clock:      opts.Clock,
		maxPerShrd: max(1, opts.MaxKeys/memoryShards),
		seed:       maphash.MakeSeed(),
	}
	s.outbox = memoryOutbox{clock: opts.Clock, max: opts.MaxKeys, jobs: make(map[string]*memoryJob)}
	for i := range s.shards {
		s.shards[i].m = make(map[string]memoryEntry)
		s.shards[i].nextSweep = minSweep
	}
	return s
}

func (s *memoryStore) shard(key string) *memoryShard {
	return &s.shards[maphash.String(s.seed, key)%memoryShards]
}

// Acquire implements [Store].
func (s *memoryStore) Acquire(_ context.Context, key, owner string, ttl time.Duration) error {
	now := s.clock().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e.expires > now {
		switch e.owner {
		case "":
			return ErrAdmissionUsed
		case owner:
			return nil
		}
		return ErrAdmissionInUse
	}
	if err := sh.makeRoom(key, now, s.maxPerShrd); err != nil {
		return err
	}
	sh.m[key] = memoryEntry{owner: owner, expires: addSat(now, ttl)}
	return nil
}

// Release implements [Store].
func (s *memoryStore) Release(_ context.Context, key, owner string) error {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e.owner != "" && e.owner == owner {
		delete(sh.m, key)
	}
	return nil
}

// Renew implements [Store].
func (s *memoryStore) Renew(_ context.Context, key, owner string, ttl time.Duration) error {
	now := s.clock().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	if !ok || e.owner == "" || e.owner != owner || e.expires <= now {
		return ErrHoldLost
	}
	sh.m[key] = memoryEntry{owner: owner, expires: addSat(now, ttl)}
	return nil
}

// MarkUsed implements [Store].
func (s *memoryStore) MarkUsed(_ context.Context, key string, ttl time.Duration, c *Completion) error {
	now := s.clock().UnixNano()
	exp := addSat(now, ttl)
	sh := s.shard(key)
	// Lock order: a shard, then the outbox. Both change together or not
	// at all.
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; !ok || e.owner != "" || e.expires < exp {
		if err := sh.makeRoom(key, now, s.maxPerShrd); err != nil {
			return err
		}
	} else {
		exp = e.expires
	}
	if c != nil {
		if err := s.outbox.add(*c, now); err != nil {
			return err
		}
	}
	sh.m[key] = memoryEntry{expires: exp}
	return nil
}

// addSat returns now+d in unix nanoseconds, saturating instead of
// overflowing: an admission whose expiry is centuries away must not make a
// used mark expire at birth.
func addSat(now int64, d time.Duration) int64 {
	if d > 0 && now > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	return now + int64(d)
}

// IsUsed implements [Store].
func (s *memoryStore) IsUsed(_ context.Context, key string) (bool, error) {
	now := s.clock().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	return ok && e.owner == "" && e.expires > now, nil
}

// makeRoom sweeps expired entries when the shard has grown enough since the
// last sweep (amortized O(1) per write), and refuses a new key beyond the
// cap. The caller holds sh.mu.
func (sh *memoryShard) makeRoom(key string, now int64, maxKeys int) error {
	if _, exists := sh.m[key]; exists {
		return nil // overwriting never grows the map
	}
	if len(sh.m) >= sh.nextSweep || len(sh.m) >= maxKeys {
		for k, e := range sh.m {
			if e.expires <= now {
				delete(sh.m, k)
			}
		}
		sh.nextSweep = max(2*len(sh.m), minSweep)
		// A Go map never gives back its buckets: after a drop has drained
		// away, rebuild it so the memory follows the live keys.
		if sh.peak > 4*minSweep && len(sh.m) < sh.peak/4 {
			m := make(map[string]memoryEntry, len(sh.m))
			for k, e := range sh.m {
				m[k] = e
			}
			sh.m, sh.peak = m, len(m)
		}
	}
	sh.peak = max(sh.peak, len(sh.m)+1)
	if len(sh.m) >= maxKeys {
		return ErrStoreFull
	}
	return nil
}

// memoryOutbox is the outbox of a memoryStore. It lives in the process: its
// pending completions are lost if the process dies (use a shared store, such
// as the redisstore module's, to keep them across restarts).
type memoryOutbox struct {
	clock func() time.Time
	max   int

	mu   sync.Mutex
	jobs map[string]*memoryJob
}

type memoryJob struct {
	c          Completion
	due        int64 // unix nanoseconds
	owner      string
	leaseUntil int64
}

// add records c, due at once, unless a completion with its ID is pending.
// The caller holds the key's shard lock.
func (o *memoryOutbox) add(c Completion, now int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.jobs[c.ID]; ok {
		return nil
	}
	if len(o.jobs) >= o.max {
		return ErrStoreFull
	}
	if c.Since.IsZero() {
		c.Since = time.Unix(0, now)
	}
	o.jobs[c.ID] = &memoryJob{c: c, due: now}
	return nil
}

// Claim implements [Outbox].
func (s *memoryStore) Claim(_ context.Context, owner string, n int, lease time.Duration) ([]Completion, error) {
	o := &s.outbox
	now := o.clock().UnixNano()
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []*memoryJob
	for _, j := range o.jobs {
		if j.due <= now && j.leaseUntil <= now {
			due = append(due, j)
		}
	}
	slices.SortFunc(due, func(a, b *memoryJob) int { return cmp.Compare(a.due, b.due) })
	if len(due) > n {
		due = due[:max(n, 0)]
	}
	out := make([]Completion, len(due))
	for i, j := range due {
		j.owner, j.leaseUntil = owner, addSat(now, lease)
		out[i] = j.c
	}
	return out, nil
}

// Done implements [Outbox].
func (s *memoryStore) Done(_ context.Context, id string) error {
	o := &s.outbox
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.jobs, id)
	return nil
}

// Retry implements [Outbox].
func (s *memoryStore) Retry(_ context.Context, id, owner string, delay time.Duration) error {
	o := &s.outbox
	now := o.clock().UnixNano()
	o.mu.Lock()
	defer o.mu.Unlock()
	j, ok := o.jobs[id]
	if !ok || j.owner != owner || j.leaseUntil <= now {
		return ErrHoldLost
	}
	j.c.Attempts++
	j.owner, j.leaseUntil, j.due = "", 0, addSat(now, delay)
	return nil
}

// Stats implements [Outbox].
func (s *memoryStore) Stats(context.Context) (OutboxStats, error) {
	o := &s.outbox
	o.mu.Lock()
	defer o.mu.Unlock()
	st := OutboxStats{Pending: len(o.jobs)}
	for _, j := range o.jobs {
		if st.Oldest.IsZero() || j.c.Since.Before(st.Oldest) {
			st.Oldest = j.c.Since
		}
	}
	return st, nil
}
