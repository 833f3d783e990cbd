package fanfare

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// Store keeps the single-use state of admissions and the completions owed
// to Fanfare. [RequireAdmission] takes a hold (a lease owned by one request)
// before the handler runs and renews it while the handler runs; after a
// successful checkout it marks the admission used and records its
// completion in one atomic step, otherwise it releases the hold. A
// [CompletionWorker] delivers the completions from the store's [Outbox].
//
// Every method is one atomic operation, so a networked store (Redis) does
// each in one round trip. Keys are opaque, at most a few hundred bytes;
// owners are unique per request. One store serves one Fanfare organization.
// Implementations must be safe for concurrent use and pass the conformance
// suite in package storetest.
type Store interface {
	// Acquire holds key for owner for ttl if key is neither held nor used,
	// and returns nil. Otherwise it changes nothing and returns an error
	// matching, with errors.Is, [ErrAdmissionInUse] (another owner holds
	// key) or [ErrAdmissionUsed] (key is marked used); any other error is a
	// store failure, which RequireAdmission answers with 503. Acquire by the
	// owner already holding key returns nil and changes nothing: that is a
	// client retrying a call whose answer was lost.
	Acquire(ctx context.Context, key, owner string, ttl time.Duration) error
	// Renew extends owner's hold on key to ttl from now. It returns
	// [ErrHoldLost], changing nothing, when owner no longer holds key: the
	// hold expired, was released, or another owner holds it now.
	Renew(ctx context.Context, key, owner string, ttl time.Duration) error
	// Release frees key if owner holds it. A key held by another owner, a
	// key marked used and an absent key are left as they are.
	Release(ctx context.Context, key, owner string) error
	// MarkUsed marks key used for ttl, whoever holds it, and, when c is not
	// nil, records c in the outbox, due at once, in the same atomic step, so
	// a used admission never lacks its completion. A key already marked
	// used keeps the later of its two expiry times; a completion whose ID
	// is already pending is kept as it is.
	MarkUsed(ctx context.Context, key string, ttl time.Duration, c *Completion) error
	// IsUsed reports, changing nothing, whether key is marked used and the
	// mark has not expired: RequireAdmission tells a replay (409) from an
	// invalid admission with it.
	IsUsed(ctx context.Context, key string) (bool, error)

	Outbox
}

// ErrHoldLost is returned by [Store.Renew] when the caller no longer holds
// the key. RequireAdmission then cancels the request's context: another
// request may hold the admission now, so this one must not place an order.
var ErrHoldLost = errors.New("fanfare: admission hold lost")

// ErrTooManyKeys is returned by [NewMemoryStore]'s store and
// [NewMemoryLimiter]'s limiter for a new key beyond their MaxKeys: they
// refuse it rather than forget a live hold, or a key still limited (which
// would hand it a fresh budget). RequireAdmission answers 503;
// RateLimitAuthorize answers 503 and never fails open on it.
var ErrTooManyKeys = errors.New("fanfare: too many keys: new key refused")

// MemoryStoreOptions configures [NewMemoryStore].
type MemoryStoreOptions struct {
	// Clock tells the time that holds and used marks expire by.
	// Default: time.Now.
	Clock func() time.Time
	// MaxKeys bounds the live keys (holds and used marks) and, separately,
	// the pending completions; beyond it Acquire and MarkUsed return
	// ErrTooManyKeys. Each key costs about 150 bytes. Default: 1 << 20.
	MaxKeys int
}

// memoryStore is the Store of NewMemoryStore. One lock guards its keys and
// its outbox, so MarkUsed changes both or neither.
type memoryStore struct {
	clock   func() time.Time
	maxKeys int

	mu        sync.Mutex
	keys      map[string]memoryEntry
	nextSweep int
	peak      int   // largest size since keys was last rebuilt
	firstExp  int64 // no key expires before: at MaxKeys, no sweep until then
	jobs      map[string]*memoryJob
}

type memoryEntry struct {
	owner   string // empty when used
	expires int64  // unix nanoseconds
}

type memoryJob struct {
	c          Completion
	due        int64 // unix nanoseconds
	owner      string
	leaseUntil int64
}

const minSweep = 256

// NewMemoryStore returns an empty in-memory [Store], with its [Outbox]: the
// default of RequireAdmission, for a single instance. Its state is lost when
// the process exits. Instances behind a load balancer must share a store
// (redisstore's), or each admits the same admission once.
func NewMemoryStore(opts MemoryStoreOptions) Store {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &memoryStore{
		clock:     opts.Clock,
		maxKeys:   cmp.Or(max(opts.MaxKeys, 0), 1<<20),
		keys:      make(map[string]memoryEntry),
		nextSweep: minSweep,
		jobs:      make(map[string]*memoryJob),
	}
}

// lock locks s and returns the time, in unix nanoseconds.
func (s *memoryStore) lock() int64 {
	now := s.clock().UnixNano()
	s.mu.Lock()
	return now
}

func (s *memoryStore) Acquire(_ context.Context, key, owner string, ttl time.Duration) error {
	now := s.lock()
	defer s.mu.Unlock()
	if e, ok := s.keys[key]; ok && e.expires > now {
		switch e.owner {
		case "":
			return ErrAdmissionUsed
		case owner:
			return nil
		}
		return ErrAdmissionInUse
	}
	return s.put(key, owner, addSat(now, ttl), now)
}

func (s *memoryStore) Release(_ context.Context, key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.keys[key]; e.owner != "" && e.owner == owner {
		delete(s.keys, key)
	}
	return nil
}

func (s *memoryStore) Renew(_ context.Context, key, owner string, ttl time.Duration) error {
	now := s.lock()
	defer s.mu.Unlock()
	if e := s.keys[key]; e.owner == "" || e.owner != owner || e.expires <= now {
		return ErrHoldLost
	}
	return s.put(key, owner, addSat(now, ttl), now)
}

func (s *memoryStore) MarkUsed(_ context.Context, key string, ttl time.Duration, c *Completion) error {
	now := s.lock()
	defer s.mu.Unlock()
	exp := addSat(now, ttl)
	if e, ok := s.keys[key]; ok && e.owner == "" {
		exp = max(exp, e.expires)
	}
	newJob := c != nil && s.jobs[c.ID] == nil
	if newJob && len(s.jobs) >= s.maxKeys {
		return ErrTooManyKeys
	}
	if err := s.put(key, "", exp, now); err != nil || !newJob {
		return err
	}
	s.jobs[c.ID] = &memoryJob{c: *c, due: now}
	if c.Since.IsZero() {
		s.jobs[c.ID].c.Since = time.Unix(0, now)
	}
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

func (s *memoryStore) IsUsed(_ context.Context, key string) (bool, error) {
	now := s.lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	return ok && e.owner == "" && e.expires > now, nil
}

// put sets key's entry. A new key may first sweep expired keys: when the map
// has doubled since the last sweep (amortized O(1) per write), or at
// MaxKeys once a key may have expired. Beyond MaxKeys it is refused.
func (s *memoryStore) put(key, owner string, expires, now int64) error {
	if _, exists := s.keys[key]; !exists {
		if len(s.keys) >= s.nextSweep || (len(s.keys) >= s.maxKeys && now >= s.firstExp) {
			s.firstExp = math.MaxInt64
			maps.DeleteFunc(s.keys, func(_ string, e memoryEntry) bool {
				if e.expires > now {
					s.firstExp = min(s.firstExp, e.expires)
				}
				return e.expires <= now
			})
			s.nextSweep = max(2*len(s.keys), minSweep)
			// A Go map never gives back its memory: after a drop has
			// drained away, rebuild it so the memory follows the live keys.
			if s.peak > 4*minSweep && len(s.keys) < s.peak/4 {
				m := make(map[string]memoryEntry, len(s.keys))
				maps.Copy(m, s.keys)
				s.keys, s.peak = m, len(m)
			}
		}
		s.peak = max(s.peak, len(s.keys)+1)
		if len(s.keys) >= s.maxKeys {
			return ErrTooManyKeys
		}
	}
	s.keys[key] = memoryEntry{owner, expires}
	s.firstExp = min(s.firstExp, expires)
	return nil
}

func (s *memoryStore) Claim(_ context.Context, owner string, n int, lease time.Duration) ([]Completion, error) {
	now := s.lock()
	defer s.mu.Unlock()
	var due []*memoryJob
	for _, j := range s.jobs {
		if j.due <= now && j.leaseUntil <= now {
			due = append(due, j)
		}
	}
	slices.SortFunc(due, func(a, b *memoryJob) int { return cmp.Compare(a.due, b.due) })
	out := make([]Completion, min(len(due), max(n, 0)))
	for i := range out {
		due[i].owner, due[i].leaseUntil = owner, addSat(now, lease)
		out[i] = due[i].c
	}
	return out, nil
}

func (s *memoryStore) Done(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, id)
	return nil
}

func (s *memoryStore) Retry(_ context.Context, id, owner string, delay time.Duration) error {
	now := s.lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok || j.owner != owner || j.leaseUntil <= now {
		return ErrHoldLost
	}
	j.c.Attempts++
	j.owner, j.leaseUntil, j.due = "", 0, addSat(now, delay)
	return nil
}

func (s *memoryStore) Stats(context.Context) (OutboxStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := OutboxStats{Pending: len(s.jobs)}
	for _, j := range s.jobs {
		if st.Oldest.IsZero() || j.c.Since.Before(st.Oldest) {
			st.Oldest = j.c.Since
		}
	}
	return st, nil
}
