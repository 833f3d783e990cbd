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
	// key) or [ErrAdmissionUsed] (key is marked used). Any other error is a
	// store failure, which RequireAdmission answers with 503. Acquire by the
	// owner already holding key returns nil and changes nothing: owners are
	// unique per request, so that is a client retrying a call whose answer
	// was lost, and it must not refuse the hold it just took.
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
	// expired. It changes nothing. RequireAdmission asks it to tell a replay
	// of a used admission (409) from an invalid one.
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
// its outbox, so MarkUsed changes both or neither: the store sees orders per
// second, not page views. Expired keys are reclaimed as the store is used,
// without a background goroutine: the map is swept when it has doubled since
// its last sweep.
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
// default of RequireAdmission, for a single instance. Its holds, used marks
// and pending completions live in the process and are lost when it exits.
// Several instances behind a load balancer must share a store (the
// redisstore module's, on Redis), or each instance admits the same admission
// once.
func NewMemoryStore(opts MemoryStoreOptions) Store {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 1 << 20
	}
	return &memoryStore{
		clock:     opts.Clock,
		maxKeys:   opts.MaxKeys,
		keys:      make(map[string]memoryEntry),
		nextSweep: minSweep,
		jobs:      make(map[string]*memoryJob),
	}
}

func (s *memoryStore) Acquire(_ context.Context, key, owner string, ttl time.Duration) error {
	now := s.clock().UnixNano()
	s.mu.Lock()
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
	if err := s.makeRoom(key, now); err != nil {
		return err
	}
	s.put(key, memoryEntry{owner: owner, expires: addSat(now, ttl)})
	return nil
}

func (s *memoryStore) Release(_ context.Context, key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.keys[key]; ok && e.owner != "" && e.owner == owner {
		delete(s.keys, key)
	}
	return nil
}

func (s *memoryStore) Renew(_ context.Context, key, owner string, ttl time.Duration) error {
	now := s.clock().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	if !ok || e.owner == "" || e.owner != owner || e.expires <= now {
		return ErrHoldLost
	}
	s.put(key, memoryEntry{owner: owner, expires: addSat(now, ttl)})
	return nil
}

func (s *memoryStore) MarkUsed(_ context.Context, key string, ttl time.Duration, c *Completion) error {
	now := s.clock().UnixNano()
	exp := addSat(now, ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.keys[key]; ok && e.owner == "" && e.expires >= exp {
		exp = e.expires
	} else if err := s.makeRoom(key, now); err != nil {
		return err
	}
	if c != nil {
		if _, ok := s.jobs[c.ID]; !ok {
			if len(s.jobs) >= s.maxKeys {
				return ErrTooManyKeys
			}
			job := &memoryJob{c: *c, due: now}
			if job.c.Since.IsZero() {
				job.c.Since = time.Unix(0, now)
			}
			s.jobs[c.ID] = job
		}
	}
	s.put(key, memoryEntry{expires: exp})
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
	now := s.clock().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	return ok && e.owner == "" && e.expires > now, nil
}

func (s *memoryStore) put(key string, e memoryEntry) {
	s.keys[key] = e
	s.firstExp = min(s.firstExp, e.expires)
}

// makeRoom sweeps expired keys when the map has doubled since the last sweep
// (amortized O(1) per write), or at the cap once a key may have expired, and
// refuses a new key beyond the cap. The caller holds s.mu.
func (s *memoryStore) makeRoom(key string, now int64) error {
	if _, exists := s.keys[key]; exists {
		return nil // overwriting never grows the map
	}
	if len(s.keys) >= s.nextSweep || (len(s.keys) >= s.maxKeys && now >= s.firstExp) {
		s.firstExp = math.MaxInt64
		maps.DeleteFunc(s.keys, func(_ string, e memoryEntry) bool {
			if e.expires <= now {
				return true
			}
			s.firstExp = min(s.firstExp, e.expires)
			return false
		})
		s.nextSweep = max(2*len(s.keys), minSweep)
		// A Go map never gives back its memory: after a drop has drained
		// away, rebuild it so the memory follows the live keys.
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
	return nil
}

func (s *memoryStore) Claim(_ context.Context, owner string, n int, lease time.Duration) ([]Completion, error) {
	now := s.clock().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []*memoryJob
	for _, j := range s.jobs {
		if j.due <= now && j.leaseUntil <= now {
			due = append(due, j)
		}
	}
	slices.SortFunc(due, func(a, b *memoryJob) int { return cmp.Compare(a.due, b.due) })
	due = due[:min(len(due), max(n, 0))]
	out := make([]Completion, len(due))
	for i, j := range due {
		j.owner, j.leaseUntil = owner, addSat(now, lease)
		out[i] = j.c
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
	now := s.clock().UnixNano()
	s.mu.Lock()
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
