package fanfare

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// AcquireResult is the outcome of [Store.Acquire]. Its zero value is no
// outcome at all and is treated as a refusal.
type AcquireResult int

// The outcomes of [Store.Acquire].
const (
	// Acquired: the key was free; the caller now holds it.
	Acquired AcquireResult = iota + 1
	// InUse: another request holds the key.
	InUse
	// Used: the key was marked used; it stays refused until the mark expires.
	Used
)

// String returns "acquired", "in use" or "used".
func (r AcquireResult) String() string {
	switch r {
	case Acquired:
		return "acquired"
	case InUse:
		return "in use"
	case Used:
		return "used"
	}
	return "invalid"
}

// Store keeps the single-use state of admissions: which are being used by a
// request right now (held) and which were used (marked used). [RequireAdmission]
// takes a hold before the handler runs, marks the admission used after a
// successful checkout and releases the hold otherwise.
//
// Every method is one atomic operation, so a networked store (Redis) does each
// in one round trip. Keys are opaque, at most a few hundred bytes; owners are
// unique per request. Implementations must be safe for concurrent use. Run
// the conformance suite in package storetest against any implementation.
type Store interface {
	// Acquire holds key for owner for ttl if key is neither held nor used,
	// and returns Acquired. Otherwise it changes nothing and returns InUse
	// (held by anyone, owner included) or Used.
	Acquire(ctx context.Context, key, owner string, ttl time.Duration) (AcquireResult, error)
	// Release frees key if owner holds it. A key held by another owner, a
	// key marked used and an absent key are left as they are.
	Release(ctx context.Context, key, owner string) error
	// MarkUsed marks key used for ttl, whoever holds it. A key already
	// marked used keeps the later of its two expiry times.
	MarkUsed(ctx context.Context, key string, ttl time.Duration) error
	// IsUsed reports whether key is marked used and the mark has not
	// expired. It changes nothing. RequireAdmission asks only when it is
	// about to refuse an admission, to tell a replay of a used admission
	// (409 ADMISSION_USED) from an invalid one.
	IsUsed(ctx context.Context, key string) (bool, error)
}

// ErrStoreFull is returned by a [MemoryStore] that holds MaxKeys live keys.
// RequireAdmission answers 503: it fails closed rather than forget a hold.
var ErrStoreFull = errors.New("fanfare: admission store is full")

// MemoryStoreOptions configures a [MemoryStore].
type MemoryStoreOptions struct {
	// Clock tells the time that holds and used marks expire by.
	// Default: time.Now.
	Clock func() time.Time
	// MaxKeys bounds the number of live keys; Acquire and MarkUsed
	// return ErrStoreFull beyond it. Each key costs about 150 bytes.
	// Default: 1 << 20.
	MaxKeys int
}

// MemoryStore is the in-memory [Store]: the default of RequireAdmission, for
// a single instance. Several instances behind a load balancer must share a
// store (a Redis one is planned as the redisstore module; storetest.Run checks
// any implementation), or each instance admits the same
// admission once.
//
// Expired keys are reclaimed as the store is used, without a background
// goroutine: a shard sweeps itself when it has doubled since its last sweep.
type MemoryStore struct {
	clock      func() time.Time
	maxPerShrd int
	seed       maphash.Seed
	shards     [memoryShards]memoryShard
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

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts MemoryStoreOptions) *MemoryStore {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 20
	}
	s := &MemoryStore{
		clock:      opts.Clock,
		maxPerShrd: max(1, opts.MaxKeys/memoryShards),
		seed:       maphash.MakeSeed(),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]memoryEntry)
		s.shards[i].nextSweep = minSweep
	}
	return s
}

func (s *MemoryStore) shard(key string) *memoryShard {
	return &s.shards[maphash.String(s.seed, key)%memoryShards]
}

// Acquire implements [Store].
func (s *MemoryStore) Acquire(_ context.Context, key, owner string, ttl time.Duration) (AcquireResult, error) {
	now := s.clock().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e.expires > now {
		if e.owner == "" {
			return Used, nil
		}
		return InUse, nil
	}
	if err := sh.makeRoom(key, now, s.maxPerShrd); err != nil {
		return 0, err
	}
	sh.m[key] = memoryEntry{owner: owner, expires: now + int64(ttl)}
	return Acquired, nil
}

// Release implements [Store].
func (s *MemoryStore) Release(_ context.Context, key, owner string) error {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e.owner != "" && e.owner == owner {
		delete(sh.m, key)
	}
	return nil
}

// MarkUsed implements [Store].
func (s *MemoryStore) MarkUsed(_ context.Context, key string, ttl time.Duration) error {
	now := s.clock().UnixNano()
	exp := now + int64(ttl)
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e.owner == "" && e.expires > exp {
		return nil
	}
	if err := sh.makeRoom(key, now, s.maxPerShrd); err != nil {
		return err
	}
	sh.m[key] = memoryEntry{expires: exp}
	return nil
}

// IsUsed implements [Store].
func (s *MemoryStore) IsUsed(_ context.Context, key string) (bool, error) {
	now := s.clock().UnixNano()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	return ok && e.owner == "" && e.expires > now, nil
}

// Len returns the number of keys held or marked used that have not expired.
func (s *MemoryStore) Len() int {
	now := s.clock().UnixNano()
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, e := range sh.m {
			if e.expires > now {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
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
